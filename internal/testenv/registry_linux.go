package testenv

import (
	"os/exec"
	"syscall"
)

// killWithParent makes the kernel kill the child when the test binary dies,
// so a crashed or timed-out test leaves no registry behind.
func killWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
