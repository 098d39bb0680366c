// Package testenv gives end-to-end tests the real tools they run against
// (runc, a registry process, the Lambda emulator). With AGENTSHIP_E2E=1 (set
// by .ci/run) a missing tool fails the test; elsewhere it skips, so that
// `go test ./...` on a laptop without runc still passes honestly.
package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// E2E reports whether end-to-end tools are required (AGENTSHIP_E2E=1).
func E2E() bool { return os.Getenv("AGENTSHIP_E2E") == "1" }

// Tool returns the path of an executable, looked up on PATH and in
// $(go env GOPATH)/bin (where `go install` puts the Lambda emulator). When
// it is missing the test fails under AGENTSHIP_E2E=1 and skips otherwise.
func Tool(t testing.TB, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range goBinDirs() {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p
		}
	}
	Missing(t, name+" is not installed (run .ci/run, or see README: Testing)")
	return ""
}

// Missing fails (AGENTSHIP_E2E=1) or skips the test with why.
func Missing(t testing.TB, why string) {
	t.Helper()
	if E2E() {
		t.Fatalf("AGENTSHIP_E2E=1 and %s", why)
	}
	t.Skip(why)
}

// Root requires root (runc without rootless setup, binding privileged
// things); it fails under AGENTSHIP_E2E=1 like a missing tool.
func Root(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		Missing(t, "the test needs root (runc runs containers as root here)")
	}
}

func goBinDirs() []string {
	var dirs []string
	if gb := os.Getenv("GOBIN"); gb != "" {
		dirs = append(dirs, gb)
	}
	if gp := os.Getenv("GOPATH"); gp != "" {
		for _, p := range filepath.SplitList(gp) {
			dirs = append(dirs, filepath.Join(p, "bin"))
		}
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, "go", "bin"))
	}
	return dirs
}
