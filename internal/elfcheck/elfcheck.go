// Package elfcheck refuses a binary that would not run in a scratch image:
// one built for another machine, or one linked against a C library that the
// image does not have. Without it the failure shows up only at run time, as
// the famously unhelpful "exec /agent: no such file or directory".
package elfcheck

import (
	"debug/elf"
	"fmt"
	"strings"
)

// machines maps GOARCH to the ELF machine its binaries carry.
var machines = map[string]elf.Machine{
	"amd64":   elf.EM_X86_64,
	"arm64":   elf.EM_AARCH64,
	"arm":     elf.EM_ARM,
	"386":     elf.EM_386,
	"ppc64le": elf.EM_PPC64,
	"s390x":   elf.EM_S390,
	"riscv64": elf.EM_RISCV,
}

// Info is what Check read from the binary.
type Info struct {
	Machine elf.Machine
	Static  bool
}

// Check verifies that path is a Linux ELF executable for goarch that is
// statically linked (no program interpreter, no needed shared libraries).
func Check(path, goarch string) (Info, error) {
	f, err := elf.Open(path)
	if err != nil {
		return Info{}, fmt.Errorf("%s is not an ELF binary (%v): build it for GOOS=linux", path, err)
	}
	defer f.Close()
	info := Info{Machine: f.Machine}
	want, ok := machines[goarch]
	if !ok {
		return info, fmt.Errorf("no ELF machine known for GOARCH=%s", goarch)
	}
	if f.Machine != want {
		return info, fmt.Errorf("%s is built for %s, not %s (%s): check GOARCH in the build environment", path, f.Machine, goarch, want)
	}
	var interp string
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			b := make([]byte, prog.Filesz)
			if _, err := prog.ReadAt(b, 0); err == nil {
				interp = strings.TrimRight(string(b), "\x00")
			} else {
				interp = "an interpreter"
			}
		}
	}
	libs, _ := f.ImportedLibraries()
	if interp != "" || len(libs) > 0 {
		var needs []string
		if len(libs) > 0 {
			needs = append(needs, "libraries "+strings.Join(libs, ", "))
		}
		if interp != "" {
			needs = append(needs, "interpreter "+interp)
		}
		return info, fmt.Errorf("%s is dynamically linked (needs %s), so it cannot run in a scratch image: a dependency uses cgo; build with CGO_ENABLED=0 and replace that dependency with a pure-Go one (e.g. modernc.org/sqlite for mattn/go-sqlite3)", path, strings.Join(needs, "; "))
	}
	info.Static = true
	return info, nil
}
