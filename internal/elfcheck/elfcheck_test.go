package elfcheck

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aixgo-dev/agentship/internal/testenv"
)

func build(t *testing.T, src string, env ...string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module x\n\ngo 1.26\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "bin")
	cmd := exec.Command("go", "build", "-o", out, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	return out
}

const plain = "package main\nfunc main() { println(\"hi\") }\n"

func TestStaticBinaryPasses(t *testing.T) {
	for _, arch := range []string{"amd64", "arm64"} {
		bin := build(t, plain, "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
		info, err := Check(bin, arch)
		if err != nil {
			t.Fatalf("%s: %v", arch, err)
		}
		if !info.Static || info.Machine != machines[arch] {
			t.Fatalf("%s: got %+v", arch, info)
		}
	}
}

func TestWrongMachineRefused(t *testing.T) {
	bin := build(t, plain, "CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64")
	_, err := Check(bin, "amd64")
	if err == nil || !strings.Contains(err.Error(), "EM_AARCH64") || !strings.Contains(err.Error(), "not amd64") {
		t.Fatalf("want a wrong-machine error, got %v", err)
	}
}

func TestDynamicBinaryRefused(t *testing.T) {
	testenv.Tool(t, "gcc") // a cgo build needs a C compiler
	src := "package main\n// #include <stdlib.h>\nimport \"C\"\nfunc main() { C.abs(1) }\n"
	bin := build(t, src, "CGO_ENABLED=1", "GOOS=linux", "GOARCH=amd64", "CC=gcc")
	f, _ := elf.Open(bin)
	if f.Machine != elf.EM_X86_64 {
		t.Skip("the host compiler does not target amd64")
	}
	f.Close()
	_, err := Check(bin, "amd64")
	if err == nil {
		t.Fatal("a dynamically linked binary passed the check")
	}
	msg := err.Error()
	for _, want := range []string{"dynamically linked", "libc.so", "cgo", "CGO_ENABLED=0"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not mention %q", msg, want)
		}
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("error is not one line: %q", msg)
	}
}

func TestNotELF(t *testing.T) {
	p := filepath.Join(t.TempDir(), "script")
	os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755)
	if _, err := Check(p, "amd64"); err == nil || !strings.Contains(err.Error(), "not an ELF binary") {
		t.Fatalf("got %v", err)
	}
}
