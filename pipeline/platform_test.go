package pipeline

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestParsePlatform(t *testing.T) {
	for _, tc := range []struct {
		in        string
		want      Platform
		str, slug string
		goEnv     []string
	}{
		{"linux/amd64", Platform{"linux", "amd64", ""}, "linux/amd64", "linux_amd64", []string{"GOOS=linux", "GOARCH=amd64"}},
		{"linux/arm64", Platform{"linux", "arm64", ""}, "linux/arm64", "linux_arm64", []string{"GOOS=linux", "GOARCH=arm64"}},
		{"linux/arm", Platform{"linux", "arm", "v7"}, "linux/arm/v7", "linux_arm_v7", []string{"GOOS=linux", "GOARCH=arm", "GOARM=7"}},
		{"linux/arm/v7", Platform{"linux", "arm", "v7"}, "linux/arm/v7", "linux_arm_v7", []string{"GOOS=linux", "GOARCH=arm", "GOARM=7"}},
		{"linux/arm/v6", Platform{"linux", "arm", "v6"}, "linux/arm/v6", "linux_arm_v6", []string{"GOOS=linux", "GOARCH=arm", "GOARM=6"}},
		{" Linux/ARM64 ", Platform{"linux", "arm64", ""}, "linux/arm64", "linux_arm64", []string{"GOOS=linux", "GOARCH=arm64"}},
		{"linux/386", Platform{"linux", "386", ""}, "linux/386", "linux_386", []string{"GOOS=linux", "GOARCH=386"}},
		{"linux/ppc64le", Platform{"linux", "ppc64le", ""}, "linux/ppc64le", "linux_ppc64le", []string{"GOOS=linux", "GOARCH=ppc64le"}},
		{"linux/s390x", Platform{"linux", "s390x", ""}, "linux/s390x", "linux_s390x", []string{"GOOS=linux", "GOARCH=s390x"}},
		{"linux/riscv64", Platform{"linux", "riscv64", ""}, "linux/riscv64", "linux_riscv64", []string{"GOOS=linux", "GOARCH=riscv64"}},
	} {
		p, err := ParsePlatform(tc.in)
		if err != nil {
			t.Errorf("ParsePlatform(%q): %v", tc.in, err)
			continue
		}
		if p != tc.want {
			t.Errorf("ParsePlatform(%q) = %+v, want %+v", tc.in, p, tc.want)
		}
		if p.String() != tc.str || p.Slug() != tc.slug {
			t.Errorf("%q: String, Slug = %q, %q; want %q, %q", tc.in, p.String(), p.Slug(), tc.str, tc.slug)
		}
		if !slices.Equal(p.GoEnv(), tc.goEnv) {
			t.Errorf("%q: GoEnv = %q, want %q", tc.in, p.GoEnv(), tc.goEnv)
		}
	}
}

func TestParsePlatformErrors(t *testing.T) {
	for _, in := range []string{"linux/sparc", "windows/amd64", "darwin/arm64", "linux", "amd64", "", "linux/arm/v5", "linux/amd64/v3", "linux//amd64"} {
		_, err := ParsePlatform(in)
		if err == nil {
			t.Errorf("ParsePlatform(%q): no error", in)
			continue
		}
		checkOneLine(t, err, fmt.Sprintf("unknown platform %q", in), "use one of linux/amd64, linux/arm64")
	}
}

// Every supported platform parses back to itself, and its slug is usable
// as a dist/ directory name.
func TestSupportedPlatformsRoundTrip(t *testing.T) {
	for _, s := range supportedPlatforms {
		p, err := ParsePlatform(s)
		if err != nil || p.String() != s {
			t.Errorf("ParsePlatform(%q) = %v, %v", s, p, err)
		}
		if strings.ContainsAny(p.Slug(), "/ ") {
			t.Errorf("slug %q", p.Slug())
		}
	}
}
