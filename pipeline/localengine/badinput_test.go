package localengine

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aixgo-dev/agentship/pipeline"
)

// fixture writes a small agent module: files maps repo paths to contents.
func fixture(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	files["go.mod"] = "module example.com/fixture\n\ngo 1.26\n"
	for p, c := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const okMain = "package main\n\nfunc main() { println(\"ok\") }\n"

// shipErr plans and runs the default steps, expecting an error.
func shipErr(t *testing.T, a pipeline.Agent) error {
	t.Helper()
	t.Setenv("AGENTSHIP_CACHE_DIR", t.TempDir())
	if len(a.Platforms) == 0 {
		a.Platforms = []string{"linux/amd64"}
	}
	r, err := pipeline.Resolve(a)
	if err == nil {
		var p *pipeline.Plan
		if p, err = pipeline.MakePlan(r); err == nil {
			log := pipeline.NewLogger(io.Discard, os.Getenv)
			_, err = New(log).Run(context.Background(), p)
		}
	}
	if err == nil {
		t.Fatal("the run succeeded")
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("the error is not one line: %q", err)
	}
	if _, statErr := os.Stat(filepath.Join(a.Dir, "dist")); !os.IsNotExist(statErr) {
		entries, _ := os.ReadDir(filepath.Join(a.Dir, "dist"))
		t.Errorf("dist/ was left behind (%d entries) after: %v", len(entries), err)
	}
	return err
}

func wantIn(t *testing.T, err error, parts ...string) {
	t.Helper()
	t.Log(err)
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not say %q", err, p)
		}
	}
}

func TestNoMainPackage(t *testing.T) {
	dir := fixture(t, map[string]string{"lib/lib.go": "package lib\n"})
	err := shipErr(t, pipeline.Agent{Dir: dir, Main: "lib"})
	wantIn(t, err, "no main package in ./lib", "Agent.Main")
}

func TestCompileError(t *testing.T) {
	dir := fixture(t, map[string]string{"main.go": "package main\n\nfunc main() {\n\tundefinedThing()\n}\n"})
	err := shipErr(t, pipeline.Agent{Dir: dir})
	wantIn(t, err, "build linux/amd64 failed", "main.go:4:2", "undefined: undefinedThing", "fix the code")
}

func TestDependencyNeedsCgo(t *testing.T) {
	dir := fixture(t, map[string]string{
		"main.go":          "package main\n\nimport \"example.com/fixture/native\"\n\nfunc main() { native.Hello() }\n",
		"native/native.go": "package native\n\n// #include <stdio.h>\nimport \"C\"\n\nfunc Hello() { C.puts(C.CString(\"hi\")) }\n",
	})
	err := shipErr(t, pipeline.Agent{Dir: dir})
	wantIn(t, err, "needs cgo", "native", "CGO_ENABLED=0", "pure-Go")
}

func TestUnknownPlatform(t *testing.T) {
	dir := fixture(t, map[string]string{"main.go": okMain})
	err := shipErr(t, pipeline.Agent{Dir: dir, Platforms: []string{"linux/amd64", "linux/sparc"}})
	wantIn(t, err, `unknown platform "linux/sparc"`, "linux/arm64")
}

func TestMissingConfigDir(t *testing.T) {
	dir := fixture(t, map[string]string{"main.go": okMain})
	err := shipErr(t, pipeline.Agent{Dir: dir, ConfigDir: "settings"})
	wantIn(t, err, `config dir "settings" does not exist`, "create it")
}

func TestDebugBaseCannotBePulled(t *testing.T) {
	dir := fixture(t, map[string]string{"main.go": okMain})
	for _, ref := range []string{
		"127.0.0.1:1/nothing/here:1.0",               // nothing listens there
		"oci-layout://" + filepath.Join(dir, "none"), // no such layout
	} {
		err := shipErr(t, pipeline.Agent{Dir: dir, DebugBase: ref})
		wantIn(t, err, "debug base", "cannot be pulled", "set DebugBase")
	}
}

func TestDebugBaseLacksPlatform(t *testing.T) {
	dir := fixture(t, map[string]string{"main.go": okMain})
	layout := writeSingleArchLayout(t, "amd64")
	err := shipErr(t, pipeline.Agent{Dir: dir, DebugBase: "oci-layout://" + layout, Platforms: []string{"linux/amd64", "linux/arm64"}})
	wantIn(t, err, "linux/arm64", "AGENTSHIP_PLATFORMS")
}

// A failed run after a good one leaves the good outputs as they were.
func TestFailureKeepsPreviousOutputs(t *testing.T) {
	t.Setenv("AGENTSHIP_CACHE_DIR", t.TempDir())
	dir := fixture(t, map[string]string{"main.go": okMain})
	log := pipeline.NewLogger(io.Discard, os.Getenv)
	plan := func() *pipeline.Plan {
		r, err := pipeline.Resolve(pipeline.Agent{Dir: dir, Platforms: []string{"linux/amd64"}, Version: "v1"})
		if err != nil {
			t.Fatal(err)
		}
		p, err := pipeline.MakePlan(r)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := plan()
	if _, err := New(log).Run(context.Background(), p, pipeline.StepBinaries, pipeline.StepProduction); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(filepath.Join(dir, p.Dist.ImageTar))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n\nfunc main() { broken( }\n"), 0o644)
	if _, err := New(log).Run(context.Background(), plan(), pipeline.StepBinaries, pipeline.StepProduction); err == nil {
		t.Fatal("a broken build succeeded")
	}
	after, err := os.ReadFile(filepath.Join(dir, p.Dist.ImageTar))
	if err != nil || string(after) != string(before) {
		t.Fatalf("the failed run changed the previous image tarball (err %v)", err)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "dist"))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("staging left in dist/: %s", e.Name())
		}
	}
}
