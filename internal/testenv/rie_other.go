//go:build !linux

package testenv

import (
	"os/exec"
	"syscall"
)

// The emulator is a Linux program; elsewhere the tests skip before it
// starts, and these only keep the package building.
func rieProcAttr(*exec.Cmd) {}

func rieSignal(cmd *exec.Cmd, sig syscall.Signal) {
	if sig == syscall.SIGKILL {
		_ = cmd.Process.Kill()
		return
	}
	_ = cmd.Process.Signal(sig)
}
