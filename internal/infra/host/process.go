package host

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"sync"
	"time"
)

// Restart back-off of a proxy process that exits on its own: it doubles
// from restartMin to restartMax, and starts over once a process has stayed
// up for restartReset.
const (
	restartMin   = 250 * time.Millisecond
	restartMax   = 30 * time.Second
	restartReset = time.Minute
)

// Process is what /status shows of one supervised proxy process.
type Process struct {
	Fleet string `json:"fleet"`
	// Command is "portico proxy" or "envoy".
	Command string `json:"command"`
	// PID is the running process's (0 while it is not running).
	PID int `json:"pid,omitempty"`
	// Starts counts the times it was started; Exits the times it exited
	// on its own (a stop asked for by Portico is not an exit).
	Starts int `json:"starts"`
	Exits  int `json:"exits"`
	// LastExit describes the latest exit.
	LastExit *Exit `json:"lastExit,omitempty"`
	// AdminAddress is where the running proxy's admin interface listens
	// (/ready, /stats, /stats/prometheus), once it does.
	AdminAddress string `json:"adminAddress,omitempty"`
}

// Exit is one exit of a proxy process.
type Exit struct {
	At time.Time `json:"at"`
	// Status is how it ended: "exit status 2", "signal: killed", ...
	Status string `json:"status"`
	// Uptime is how long it had run.
	Uptime string `json:"uptime"`
	// RestartIn is the back-off before the next start.
	RestartIn string `json:"restartIn"`
}

// process is the supervised state behind Process.
type process struct {
	fleet, command string // fixed
	adminFile      string // where the proxy writes its admin address ("": none)
	mu             sync.Mutex
	st             Process
}

func newProcess(fleet, command string) *process {
	return &process{fleet: fleet, command: command, st: Process{Fleet: fleet, Command: command}}
}

func (p *process) status() Process {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.st
	if s.LastExit != nil {
		e := *s.LastExit
		s.LastExit = &e
	}
	if p.adminFile != "" && s.PID != 0 {
		if b, err := os.ReadFile(p.adminFile); err == nil {
			s.AdminAddress = string(b)
		}
	}
	return s
}

func (p *process) started(pid int) {
	p.mu.Lock()
	p.st.PID = pid
	p.st.Starts++
	p.mu.Unlock()
}

func (p *process) exited(err error, uptime, backoff time.Duration) {
	status := "exit status 0"
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		status = ee.ProcessState.String()
	case err != nil:
		status = err.Error()
	}
	p.mu.Lock()
	p.st.PID = 0
	p.st.Exits++
	p.st.LastExit = &Exit{At: time.Now().UTC().Truncate(time.Millisecond), Status: status,
		Uptime: uptime.Round(time.Millisecond).String(), RestartIn: backoff.String()}
	p.mu.Unlock()
}

func (p *process) stopped() {
	p.mu.Lock()
	p.st.PID = 0
	p.mu.Unlock()
}

// supervise runs the command newCmd makes until ctx ends, restarting it
// with back-off when it exits on its own (a crash, an OOM kill, a
// SIGKILL). When ctx ends the process gets SIGTERM and DrainTimeout to
// drain, then SIGKILL.
func (i *Infra) supervise(ctx context.Context, p *process, newCmd func(fleet string) *exec.Cmd) error {
	backoff := restartMin
	for {
		cmd := newCmd(p.fleet)
		setParentDeathSignal(cmd)
		start := time.Now()
		if err := cmd.Start(); err != nil {
			return err
		}
		p.started(cmd.Process.Pid)
		i.opts.OnChange()
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		select {
		case <-ctx.Done():
			_ = cmd.Process.Signal(sigterm)
			select {
			case <-exited:
			case <-time.After(i.opts.DrainTimeout + time.Second):
				_ = cmd.Process.Kill()
				<-exited
			}
			p.stopped()
			return nil
		case err := <-exited:
			uptime := time.Since(start)
			if uptime > restartReset {
				backoff = restartMin
			}
			p.exited(err, uptime, backoff)
			i.log.Error("proxy process exited; restarting", "fleet", p.fleet, "command", p.command,
				"status", p.status().LastExit.Status, "uptime", uptime.Round(time.Millisecond), "backoff", backoff)
			i.opts.OnChange()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, restartMax)
	}
}
