package localengine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"go/build"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/aixgo-dev/agentship/internal/elfcheck"
	"github.com/aixgo-dev/agentship/pipeline"
)

// goBuild runs one Build with the host toolchain, writing the binary to out,
// then checks that it is a static binary for the build's platform. The go
// command picks the toolchain from go.mod's go/toolchain lines (GOTOOLCHAIN
// is its business), cross-compiles without QEMU, and skips the link when
// out is already up to date.
func goBuild(ctx context.Context, dir string, b pipeline.Build, out string) error {
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	argv := b.Argv(out)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), b.Env...)
	var stderr bytes.Buffer
	cmd.Stdout = &stderr
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return fmt.Errorf("build %s: the go command is not on PATH: install Go (https://go.dev/dl) or use AGENTSHIP_ENGINE=dagger", b.Platform)
		}
		if ctx.Err() != nil {
			return fmt.Errorf("build %s: %w", b.Platform, ctx.Err())
		}
		return fmt.Errorf("build %s failed: %s", b.Platform, explainBuildError(stderr.String()))
	}
	if _, err := elfcheck.Check(out, b.Platform.Arch); err != nil {
		return fmt.Errorf("build %s: %w", b.Platform, err)
	}
	return nil
}

var (
	// A compiler or vet error: "./main.go:12:2: undefined: x".
	compileErr = regexp.MustCompile(`(?m)^(?:\.?/)?([^\s:]+\.go:\d+(?::\d+)?: .+)$`)
	// What go build says when a package only has cgo files.
	cgoExcluded = regexp.MustCompile(`(?m)(?:package (\S+): )?build constraints exclude all Go files in (\S+)`)
)

// explainBuildError turns go build's output into one line that names the
// first cause and the fix.
func explainBuildError(out string) string {
	if m := cgoExcluded.FindStringSubmatch(out); m != nil {
		if needsCgo(m[2]) {
			pkg := m[1]
			if pkg == "" {
				pkg = m[2]
			}
			return fmt.Sprintf("package %s needs cgo (import \"C\"), but agents are built with CGO_ENABLED=0 for a static binary that runs in a scratch image: replace that dependency with a pure-Go one (e.g. modernc.org/sqlite for mattn/go-sqlite3)", pkg)
		}
		return oneLine(m[0]) + ": check the build tags and GOOS/GOARCH"
	}
	if ms := compileErr.FindAllStringSubmatch(out, -1); len(ms) > 0 {
		line := ms[0][1]
		if n := len(ms) - 1; n > 0 {
			line += fmt.Sprintf(" (and %d more)", n)
		}
		return line + ": fix the code and build again"
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	if len(lines) == 0 {
		return "go build exited with an error and printed nothing"
	}
	return oneLine(strings.Join(lines, "; "))
}

// needsCgo reports whether dir holds Go files that import "C".
func needsCgo(dir string) bool {
	ctx := build.Default
	ctx.CgoEnabled = true
	pkg, err := ctx.ImportDir(dir, 0)
	return (err == nil || pkg != nil) && len(pkg.CgoFiles) > 0
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 400 {
		s = s[:400] + "…"
	}
	return s
}
