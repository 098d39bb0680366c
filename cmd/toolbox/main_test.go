package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// capture runs the shell with -c and returns its exit code and stdout.
func capture(t *testing.T, command string) (int, string) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stdout
	os.Stdout = f
	code, err := run(command, true, nil)
	os.Stdout = saved
	f.Close()
	if err != nil {
		t.Logf("run: %v", err)
	}
	b, _ := os.ReadFile(out)
	return code, string(b)
}

func TestShellRunsCommandsAndBuiltins(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "agents.yaml"), []byte("name: a\n"), 0o644)
	code, out := capture(t, "cd "+dir+" && test -f agents.yaml && ls && cat agents.yaml && id && env | grep -c PATH= && echo done")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for _, want := range []string{"agents.yaml\n", "name: a\n", "uid=", "done"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestShellExitStatus(t *testing.T) {
	if code, _ := capture(t, "exit 3"); code != 3 {
		t.Errorf("exit 3 gave %d", code)
	}
	if code, _ := capture(t, "test -x /nonexistent"); code != 1 {
		t.Errorf("a failing test gave %d", code)
	}
	if code, _ := capture(t, "cat /nonexistent"); code != 1 {
		t.Errorf("cat of a missing file gave %d", code)
	}
	if code, _ := capture(t, "if then"); code != 2 {
		t.Errorf("a syntax error gave %d", code)
	}
}

func TestLsLong(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "agent"), []byte("x"), 0o755)
	code, out := capture(t, "ls -l "+dir)
	if code != 0 || !strings.Contains(out, "-rwxr-xr-x") || !strings.Contains(out, " agent") {
		t.Errorf("ls -l: %d\n%s", code, out)
	}
}
