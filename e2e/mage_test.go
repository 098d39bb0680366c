package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aixgo-dev/agentship/internal/testenv"
	"github.com/aixgo-dev/agentship/pipeline"
)

// mage runs `go run mage.go args…` in dir, the README's zero-install way.
func mage(t *testing.T, dir string, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("go", append([]string{"run", "mage.go"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestMageTargets drives the example agent through its magefile, as the
// README's first command does: build works offline (the builtin toolbox
// Debug base), plan prints JSON, and the targets that cannot work here fail
// with one clear line.
func TestMageTargets(t *testing.T) {
	dir := CopyExample(t, "agent")
	env := []string{
		"AGENTSHIP_CACHE_DIR=" + filepath.Join(t.TempDir(), "cache"),
		"AGENTSHIP_PLATFORMS=linux/" + runtime.GOARCH,
		"VERSION=v9.9.9-mage",
		"AGENTSHIP_ENGINE=",
	}

	t.Run("list", func(t *testing.T) {
		out, err := mage(t, dir, env, "-l")
		if err != nil {
			t.Fatalf("mage -l: %v\n%s", err, out)
		}
		for _, target := range []string{"build", "clean", "plan", "image:build", "image:debug", "image:load", "lambda:zip", "lambda:image"} {
			found := false
			for _, line := range strings.Split(out, "\n") {
				f := strings.Fields(line)
				if len(f) > 1 && f[0] == target {
					found = true
				}
			}
			if !found {
				t.Errorf("mage -l lacks %s with a doc line:\n%s", target, out)
			}
		}
	})

	t.Run("plan", func(t *testing.T) {
		out, err := mage(t, dir, append(env, "AGENTSHIP_LOG_FORMAT=json"), "plan")
		if err != nil {
			t.Fatalf("mage plan: %v\n%s", err, out)
		}
		start := strings.Index(out, "{\n")
		var p pipeline.Plan
		if start < 0 || json.Unmarshal([]byte(out[start:]), &p) != nil {
			t.Fatalf("mage plan printed no JSON plan:\n%s", out)
		}
		if p.Name != "agent" || p.Version != "v9.9.9-mage" || len(p.Builder.Builds) != 1 || p.Debug.Toolbox == nil {
			t.Errorf("plan: name %q version %q builds %d toolbox %v", p.Name, p.Version, len(p.Builder.Builds), p.Debug.Toolbox)
		}
	})

	t.Run("build", func(t *testing.T) {
		out, err := mage(t, dir, append(env, "AGENTSHIP_LOG_FORMAT=json"), "build")
		if err != nil {
			t.Fatalf("mage build: %v\n%s", err, out)
		}
		for _, f := range []string{"dist/agent-image.tar", "dist/agent-debug-image.tar", "dist/oci/index.json", "dist/agent_linux_" + runtime.GOARCH + "/agent"} {
			if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
				t.Errorf("mage build did not write %s", f)
			}
		}
		var sawEngine bool
		for _, line := range strings.Split(out, "\n") {
			var rec map[string]any
			if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == "engine selected" && rec["engine"] == "local" && rec["why"] != "" {
				sawEngine = true
			}
		}
		if !sawEngine {
			t.Errorf("no JSON log line says which engine ran and why:\n%s", out)
		}
		if !strings.Contains(out, "production linux/"+runtime.GOARCH) || !strings.Contains(out, "steps:") {
			t.Errorf("no summary:\n%s", out)
		}
	})

	t.Run("toolbox debug image runs under runc", func(t *testing.T) {
		layoutDir := filepath.Join(dir, "dist", "oci")
		if _, err := os.Stat(layoutDir); err != nil {
			t.Skip("build failed")
		}
		img := testenv.LayoutImage(t, layoutDir, "agent:v9.9.9-mage-debug", "linux/"+runtime.GOARCH)
		out, stderr, code := testenv.Run(t, img, testenv.RunOptions{Args: []string{"/bin/sh", "-c", "test -x /agent && ls /config && id && /agent --version"}}, 30*time.Second)
		if code != 0 {
			t.Fatalf("toolbox sh exited %d: %s %s", code, out, stderr)
		}
		for _, want := range []string{"agents.yaml", "uid=0", "v9.9.9-mage"} {
			if !strings.Contains(out, want) {
				t.Errorf("toolbox output lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("clean", func(t *testing.T) {
		if out, err := mage(t, dir, env, "clean"); err != nil {
			t.Fatalf("mage clean: %v\n%s", err, out)
		}
		if _, err := os.Stat(filepath.Join(dir, "dist")); !os.IsNotExist(err) {
			t.Error("mage clean left dist/")
		}
	})

	t.Run("image:load without a daemon", func(t *testing.T) {
		out, err := mage(t, dir, append(env, "DOCKER_HOST=unix:///nonexistent.sock"), "image:load")
		if err == nil {
			t.Fatalf("image:load succeeded with no daemon:\n%s", out)
		}
		if !strings.Contains(out, "Docker") || !strings.Contains(out, "podman load") {
			t.Errorf("image:load error is not clear:\n%s", out)
		}
		if _, err := os.Stat(filepath.Join(dir, "dist")); !os.IsNotExist(err) {
			t.Error("image:load built before finding there is no daemon")
		}
	})

	t.Run("dagger with no engine", func(t *testing.T) {
		out, err := mage(t, dir, append(env, "AGENTSHIP_ENGINE=dagger", "DOCKER_HOST=unix:///nonexistent.sock", "DAGGER_SESSION_PORT=", "_EXPERIMENTAL_DAGGER_RUNNER_HOST="), "build")
		if err == nil {
			t.Fatalf("AGENTSHIP_ENGINE=dagger built with no engine:\n%s", out)
		}
		if !strings.Contains(out, "no Dagger engine is reachable") || !strings.Contains(out, "dagger run") {
			t.Errorf("unclear error:\n%s", out)
		}
	})
}
