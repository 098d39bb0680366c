package testenv

import (
	"os/exec"
	"syscall"
)

// rieProcAttr puts the emulator in its own process group, so that a signal
// reaches the bootstrap it started too, and has the kernel kill it if the
// test binary dies, so a crashed test leaves no emulator holding a port.
func rieProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// rieSignal signals the emulator's whole process group.
func rieSignal(cmd *exec.Cmd, sig syscall.Signal) {
	_ = syscall.Kill(-cmd.Process.Pid, sig)
}
