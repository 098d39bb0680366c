package e2e

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/aixgo-dev/agentship/internal/testenv"
	"github.com/aixgo-dev/agentship/pipeline"
	"github.com/aixgo-dev/agentship/pipeline/localengine"
)

// The benchmarks compare agentship's local engine with a plain `go build`
// of the same package, in the same run, for the host platform: `mage bench`
// prints the ratios. Each pair uses its own copy of the example agent.

type benchAgent struct {
	dir    string
	plan   *pipeline.Plan
	engine *localengine.Engine
	edits  int
}

func newBenchAgent(b *testing.B, gocache string) *benchAgent {
	b.Helper()
	dir := CopyExample(b, "agent")
	b.Setenv("AGENTSHIP_CACHE_DIR", filepath.Join(b.TempDir(), "cache"))
	if gocache != "" {
		b.Setenv("GOCACHE", gocache)
	}
	a := pipeline.Agent{
		Dir: dir, Version: "v0.0.1-bench", Commit: "bench",
		Platforms: []string{"linux/" + runtime.GOARCH},
		DebugBase: testenv.BusyboxBase(b),
	}
	return &benchAgent{dir: dir, plan: Plan(b, a), engine: localengine.New(pipeline.NewLogger(io.Discard, os.Getenv))}
}

func (ba *benchAgent) ship(b *testing.B) {
	if _, err := ba.engine.Run(context.Background(), ba.plan); err != nil {
		b.Fatal(err)
	}
}

// goBuild is the baseline: the plan's own go build for the host platform.
func (ba *benchAgent) goBuild(b *testing.B) {
	build := ba.plan.Builder.Builds[0]
	argv := build.Argv(filepath.Join(ba.dir, "bin", "agent"))
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = ba.dir
	cmd.Env = append(os.Environ(), build.Env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
}

// edit changes one line of the agent's source, as a developer would.
func (ba *benchAgent) edit(b *testing.B) {
	ba.edits++
	src := fmt.Sprintf("package main\n\nconst benchEdit = %d\n\nvar _ = benchEdit\n", ba.edits)
	if err := os.WriteFile(filepath.Join(ba.dir, "bench_edit.go"), []byte(src), 0o644); err != nil {
		b.Fatal(err)
	}
}

func BenchmarkNoChange(b *testing.B) {
	b.Run("go-build", func(b *testing.B) {
		ba := newBenchAgent(b, "")
		ba.goBuild(b)
		b.ResetTimer()
		for b.Loop() {
			ba.goBuild(b)
		}
	})
	b.Run("agentship", func(b *testing.B) {
		ba := newBenchAgent(b, "")
		ba.ship(b)
		b.ResetTimer()
		for b.Loop() {
			ba.ship(b)
		}
	})
}

func BenchmarkOneLineChange(b *testing.B) {
	b.Run("go-build", func(b *testing.B) {
		ba := newBenchAgent(b, "")
		ba.goBuild(b)
		b.ResetTimer()
		for b.Loop() {
			ba.edit(b)
			ba.goBuild(b)
		}
	})
	b.Run("agentship", func(b *testing.B) {
		ba := newBenchAgent(b, "")
		ba.ship(b)
		b.ResetTimer()
		for b.Loop() {
			ba.edit(b)
			ba.ship(b)
		}
	})
}

// BenchmarkCold starts each iteration with an empty GOCACHE (and an empty
// agentship cache), so the standard library and dependencies compile too.
func BenchmarkCold(b *testing.B) {
	b.Run("go-build", func(b *testing.B) {
		ba := newBenchAgent(b, "")
		for b.Loop() {
			b.StopTimer()
			cache := b.TempDir()
			b.Setenv("GOCACHE", cache)
			b.StartTimer()
			ba.goBuild(b)
		}
	})
	b.Run("agentship", func(b *testing.B) {
		ba := newBenchAgent(b, "")
		for b.Loop() {
			b.StopTimer()
			b.Setenv("GOCACHE", b.TempDir())
			b.Setenv("AGENTSHIP_CACHE_DIR", b.TempDir())
			ba.engine = localengine.New(pipeline.NewLogger(io.Discard, os.Getenv))
			os.RemoveAll(filepath.Join(ba.dir, "dist"))
			b.StartTimer()
			ba.ship(b)
		}
	})
}
