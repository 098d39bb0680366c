// Package e2e runs the real pipeline on the example agents with the local
// engine, then runs what it made with real tools: runc for the images, the
// AWS Lambda Runtime Interface Emulator for the Lambda package, a registry
// process for pushes.
package e2e

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/aixgo-dev/agentship/pipeline"
	"github.com/aixgo-dev/agentship/pipeline/localengine"
)

// repoRoot is the agentship checkout these tests run in.
func repoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

// CopyExample copies examples/<name> into a temp dir, with its go.mod's
// replace pointed at this checkout, so a test builds into its own dist/.
func CopyExample(t testing.TB, name string) string {
	t.Helper()
	root := repoRoot(t)
	src := filepath.Join(root, "examples", name)
	dst := filepath.Join(t.TempDir(), name)
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if rel == "dist" || strings.HasPrefix(rel, "dist"+string(filepath.Separator)) {
			return filepath.SkipDir
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, info.Mode().Perm())
		if err != nil {
			return err
		}
		defer out.Close()
		_, err = io.Copy(out, in)
		return err
	})
	if err != nil {
		t.Fatalf("copy example %s: %v", name, err)
	}
	gomod := filepath.Join(dst, "go.mod")
	b, err := os.ReadFile(gomod)
	if err != nil {
		t.Fatal(err)
	}
	fixed := strings.ReplaceAll(string(b), "=> ../..", "=> "+root)
	if fixed == string(b) {
		t.Fatalf("%s has no 'replace … => ../..' to point at the checkout", gomod)
	}
	if err := os.WriteFile(gomod, []byte(fixed), 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

// Plan resolves a and makes its plan, failing the test on error.
func Plan(t testing.TB, a pipeline.Agent) *pipeline.Plan {
	t.Helper()
	r, err := pipeline.Resolve(a)
	if err != nil {
		t.Fatalf("resolve: %v", err)
	}
	p, err := pipeline.MakePlan(r)
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	return p
}

// Engine is a local engine with its own cache in a temp dir, logging to
// the test.
func Engine(t testing.TB) *localengine.Engine {
	t.Helper()
	t.Setenv("AGENTSHIP_CACHE_DIR", filepath.Join(t.TempDir(), "cache"))
	return localengine.New(pipeline.NewLogger(testWriter{t}, os.Getenv))
}

// Run runs steps on p and fails the test on error.
func Run(t testing.TB, e *localengine.Engine, p *pipeline.Plan, steps ...pipeline.Step) *pipeline.Result {
	t.Helper()
	res, err := e.Run(context.Background(), p, steps...)
	if err != nil {
		t.Fatalf("run %v: %v", steps, err)
	}
	return res
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
