package registry

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aixgo-dev/agentship/internal/testenv"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/sirupsen/logrus"
)

const testRef = "agent:1.0.0"

var testPlatforms = []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}}

// makeLayout writes what the local engine writes to dist/oci: an OCI index
// of one image per platform, tagged in index.json with a ref.name. The two
// images share a layer (as they share the CA bundle), so the index has 3
// layers and 2 configs: 5 blobs.
func makeLayout(t *testing.T) (dir string, digest v1.Hash) {
	t.Helper()
	shared, err := random.Layer(32<<10, types.OCILayer)
	if err != nil {
		t.Fatal(err)
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, p := range testPlatforms {
		own, err := random.Layer(64<<10, types.OCILayer)
		if err != nil {
			t.Fatal(err)
		}
		img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), shared, own)
		if err != nil {
			t.Fatal(err)
		}
		img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		cf = cf.DeepCopy()
		cf.OS, cf.Architecture = p.OS, p.Architecture
		cf.Config.Entrypoint = []string{"/agent"}
		img, err = mutate.ConfigFile(img, cf)
		if err != nil {
			t.Fatal(err)
		}
		p := p
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &p}})
	}
	dir = filepath.Join(t.TempDir(), "oci")
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendIndex(idx, layout.WithAnnotations(map[string]string{RefNameAnnotation: testRef})); err != nil {
		t.Fatal(err)
	}
	digest, err = idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return dir, digest
}

// envOf is a Getenv over a map: tests never read or change the process's
// credentials.
func envOf(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

// credsEnv is the environment of a CI job pushing to reg.
func credsEnv(reg *testenv.Registry, extra ...string) func(string) string {
	kv := []string{EnvUsername, reg.User, EnvPassword, reg.Password}
	if reg.CA != nil {
		kv = append(kv, EnvCertFile, reg.CA.File)
	}
	return envOf(append(kv, extra...)...)
}

// hermeticDocker points the default keychain at an empty Docker config, so
// the developer's own logins play no part.
func hermeticDocker(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("DOCKER_CONFIG", filepath.Join(home, ".docker"))
	t.Setenv("REGISTRY_AUTH_FILE", filepath.Join(home, "none.json"))
	t.Setenv("XDG_RUNTIME_DIR", home)
	t.Setenv("XDG_CONFIG_HOME", home)
	return home
}

// testLogger captures everything down to debug, as a user with
// AGENTSHIP_VERBOSE would see it.
func testLogger() (*logrus.Logger, *testenv.SyncBuffer) {
	buf := &testenv.SyncBuffer{}
	l := logrus.New()
	l.SetOutput(buf)
	l.SetLevel(logrus.DebugLevel)
	l.SetFormatter(&logrus.TextFormatter{DisableTimestamp: true})
	return l, buf
}

// fastOptions are PushOptions with test-sized retries.
func fastOptions(dir, repo string, getenv func(string) string, log logrus.FieldLogger, tags ...string) PushOptions {
	return PushOptions{
		LayoutDir:  dir,
		RefName:    testRef,
		Repository: repo,
		Tags:       tags,
		Getenv:     getenv,
		Log:        log,
		Tries:      4,
		Backoff:    5 * time.Millisecond,
	}
}

// readOpts read from reg directly, as a deploy step would; one puller per
// registry saves a ping and a handshake per read.
func readOpts(t *testing.T, reg *testenv.Registry) []remote.Option {
	t.Helper()
	if opts, ok := readers.Load(reg); ok {
		return opts.([]remote.Option)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if reg.CA != nil {
		tr.TLSClientConfig = &tls.Config{RootCAs: reg.CA.Pool}
	}
	t.Cleanup(tr.CloseIdleConnections)
	opts := []remote.Option{remote.WithTransport(tr), remote.WithContext(context.Background())}
	if reg.User != "" {
		opts = append(opts, remote.WithAuth(&authn.Basic{Username: reg.User, Password: reg.Password}))
	}
	puller, err := remote.NewPuller(opts...)
	if err != nil {
		t.Fatal(err)
	}
	opts = append(opts, remote.Reuse(puller))
	readers.Store(reg, opts)
	return opts
}

var readers sync.Map // *testenv.Registry -> []remote.Option

// assertTagIs checks that ref resolves to want.
func assertTagIs(t *testing.T, reg *testenv.Registry, ref string, want v1.Hash) {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	d, err := remote.Head(r, readOpts(t, reg)...)
	if err != nil {
		t.Fatalf("%s: %v", ref, err)
	}
	if d.Digest != want {
		t.Fatalf("%s is %s, want %s", ref, d.Digest, want)
	}
}

// assertComplete checks that ref (a tag) resolves to want, and that the
// registry holds everything under it: each child manifest, each config and
// each layer, read back in full (the reads verify the digests).
func assertComplete(t *testing.T, reg *testenv.Registry, ref string, want v1.Hash) {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := remote.Index(r, readOpts(t, reg)...)
	if err != nil {
		t.Fatalf("%s: %v", ref, err)
	}
	got, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("%s is %s, want %s", ref, got, want)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != len(testPlatforms) {
		t.Fatalf("%s lists %d manifests, want %d", ref, len(im.Manifests), len(testPlatforms))
	}
	for _, d := range im.Manifests {
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatalf("%s: child %s: %v", ref, d.Digest, err)
		}
		if _, err := img.RawConfigFile(); err != nil {
			t.Fatalf("%s: config of %s: %v", ref, d.Digest, err)
		}
		layers, err := img.Layers()
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range layers {
			rc, err := l.Compressed()
			if err != nil {
				t.Fatalf("%s: layer of %s: %v", ref, d.Digest, err)
			}
			_, err = io.Copy(io.Discard, rc)
			rc.Close()
			if err != nil {
				t.Fatalf("%s: layer of %s: %v", ref, d.Digest, err)
			}
		}
	}
}

// tagExists asks the registry directly whether repo:tag exists.
func tagExists(t *testing.T, reg *testenv.Registry, repo, tag string) bool {
	t.Helper()
	r, err := name.NewTag(repo + ":" + tag)
	if err != nil {
		t.Fatal(err)
	}
	_, err = remote.Head(r, readOpts(t, reg)...)
	if err == nil {
		return true
	}
	if strings.Contains(err.Error(), "404") {
		return false
	}
	t.Fatalf("HEAD %s: %v", r, err)
	return false
}

// assertNoSecret fails when a secret, or its HTTP Basic form, shows up in
// any of texts.
func assertNoSecret(t *testing.T, user, secret string, texts ...string) {
	t.Helper()
	forms := []string{secret, base64.StdEncoding.EncodeToString([]byte(user + ":" + secret))}
	for _, text := range texts {
		for _, f := range forms {
			if strings.Contains(text, f) {
				t.Fatalf("a secret leaked into output:\n%s", text)
			}
		}
	}
}

// assertOneLine checks the shape every push error has.
func assertOneLine(t *testing.T, err error, wants ...string) {
	t.Helper()
	if err == nil {
		t.Fatal("push succeeded, want an error")
	}
	msg := err.Error()
	if strings.ContainsAny(msg, "\r\n") {
		t.Fatalf("error is not one line:\n%s", msg)
	}
	for _, w := range wants {
		if !strings.Contains(msg, w) {
			t.Fatalf("error %q does not say %q", msg, w)
		}
	}
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
