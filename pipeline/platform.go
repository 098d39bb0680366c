package pipeline

import (
	"fmt"
	"strings"
)

// Platform is a container platform. Containers run Linux, so OS is always
// "linux"; Variant is set for 32-bit ARM only.
type Platform struct {
	OS      string `json:"os"`
	Arch    string `json:"architecture"`
	Variant string `json:"variant,omitempty"`
}

func (p Platform) String() string {
	s := p.OS + "/" + p.Arch
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// Slug is the platform as it appears in dist/ names: linux_amd64.
func (p Platform) Slug() string {
	return strings.ReplaceAll(p.String(), "/", "_")
}

// GoEnv is GOOS, GOARCH (and GOARM for arm) for cross-compiling: pure Go
// needs no QEMU.
func (p Platform) GoEnv() []string {
	env := []string{"GOOS=" + p.OS, "GOARCH=" + p.Arch}
	if p.Arch == "arm" {
		env = append(env, "GOARM="+strings.TrimPrefix(p.Variant, "v"))
	}
	return env
}

// supportedPlatforms are the Linux targets Go cross-compiles to without cgo
// and that registries and runtimes know.
var supportedPlatforms = []string{
	"linux/amd64", "linux/arm64", "linux/arm/v7", "linux/arm/v6",
	"linux/386", "linux/ppc64le", "linux/s390x", "linux/riscv64",
}

// ParsePlatform parses os/arch[/variant]; linux/arm means linux/arm/v7.
func ParsePlatform(s string) (Platform, error) {
	norm := strings.ToLower(strings.TrimSpace(s))
	if norm == "linux/arm" {
		norm = "linux/arm/v7"
	}
	for _, known := range supportedPlatforms {
		if norm == known {
			parts := strings.Split(norm, "/")
			p := Platform{OS: parts[0], Arch: parts[1]}
			if len(parts) == 3 {
				p.Variant = parts[2]
			}
			return p, nil
		}
	}
	return Platform{}, fmt.Errorf("unknown platform %q: use one of %s", s, strings.Join(supportedPlatforms, ", "))
}
