package testenv

import (
	"debug/elf"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/aixgo-dev/agentship/internal/ocilayer"
)

// BusyboxDirEnv names the directory where .ci/run puts Debian's
// busybox-static for each architecture, as <dir>/<goarch>/busybox.
const BusyboxDirEnv = "AGENTSHIP_TEST_BUSYBOX_DIR"

var busyboxMachines = map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}

// busybox returns a static busybox for goarch: the host's (Debian package
// busybox-static) for the host architecture, else the one .ci/run
// extracted from the arm64 package.
func busybox(t testing.TB, goarch string) string {
	t.Helper()
	var candidates []string
	if d := os.Getenv(BusyboxDirEnv); d != "" {
		candidates = append(candidates, filepath.Join(d, goarch, "busybox"))
	}
	candidates = append(candidates, filepath.Join("/opt/agentship-test/busybox", goarch, "busybox"))
	if goarch == runtime.GOARCH {
		candidates = append(candidates, "/bin/busybox", "/usr/bin/busybox")
	}
	for _, c := range candidates {
		f, err := elf.Open(c)
		if err != nil {
			continue
		}
		m, static := f.Machine, f.Section(".interp") == nil
		f.Close()
		if m == busyboxMachines[goarch] && static {
			return c
		}
	}
	Missing(t, "no static busybox for "+goarch+" (apt-get install busybox-static; .ci/run fetches the arm64 one)")
	return ""
}

// BusyboxBase writes an OCI layout holding a multi-platform busybox image
// (linux/amd64 and linux/arm64: /bin/busybox and /bin/sh) tagged "busybox",
// the stand-in for the Debug image's alpine base on a machine that cannot
// pull one. It returns the oci-layout:// reference.
func BusyboxBase(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "busybox-layout")
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, arch := range []string{"amd64", "arm64"} {
		data, err := os.ReadFile(busybox(t, arch))
		if err != nil {
			t.Fatal(err)
		}
		tarball, err := ocilayer.Tar([]ocilayer.Entry{
			{Path: "/bin/busybox", Mode: 0o755, Data: data},
			{Path: "/bin/sh", Link: "busybox", Mode: 0o777},
			{Path: "/bin/test", Link: "busybox", Mode: 0o777},
			{Path: "/bin/ls", Link: "busybox", Mode: 0o777},
		})
		if err != nil {
			t.Fatal(err)
		}
		l, err := ocilayer.Cache{Dir: t.TempDir()}.Layer(tarball)
		if err != nil {
			t.Fatal(err)
		}
		img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
		img, err = mutate.ConfigFile(img, &v1.ConfigFile{
			OS: "linux", Architecture: arch, RootFS: v1.RootFS{Type: "layers"},
			Config: v1.Config{Env: []string{"PATH=/bin"}, Cmd: []string{"/bin/sh"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if img, err = mutate.AppendLayers(img, l); err != nil {
			t.Fatal(err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}},
		})
	}
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendIndex(idx, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "busybox"})); err != nil {
		t.Fatal(err)
	}
	return "oci-layout://" + dir + ":busybox"
}
