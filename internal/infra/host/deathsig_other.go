//go:build !linux

package host

import "os/exec"

// setParentDeathSignal has no portable equivalent: elsewhere a proxy
// outlives a control plane that is killed, and is stopped by hand.
func setParentDeathSignal(*exec.Cmd) {}
