package kubetest

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
)

// live counts the environments started and not yet stopped by this process.
var live atomic.Int32

// reapStrays kills the etcd and kube-apiserver processes this process
// started that are still running once its last environment stopped.
// envtest leaves some behind (a stop that timed out under load, a start it
// retried after a port clash): they would outlive the test binary, each
// with a temporary data directory and background work that slows every
// later test on the machine. Linux only (/proc); elsewhere it does nothing.
func reapStrays() {
	self := os.Getpid()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		comm, ppid, ok := parseStat(stat)
		if ok && ppid == self && (comm == "etcd" || comm == "kube-apiserver") {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// parseStat reads the command name and parent pid of /proc/PID/stat
// ("pid (comm) state ppid ..."; comm may hold spaces and parentheses).
func parseStat(stat []byte) (comm string, ppid int, ok bool) {
	open, end := bytes.IndexByte(stat, '('), bytes.LastIndexByte(stat, ')')
	if open < 0 || end < open {
		return "", 0, false
	}
	fields := strings.Fields(string(stat[end+1:]))
	if len(fields) < 2 {
		return "", 0, false
	}
	ppid, err := strconv.Atoi(fields[1])
	if err != nil {
		return "", 0, false
	}
	return string(stat[open+1 : end]), ppid, true
}
