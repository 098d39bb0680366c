package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/aixgo-dev/agentship/internal/testenv"
)

// TestPushExampleAgent pushes the example agent (two platforms) with
// `mage image:push` to a real registry process (TLS with a CA the test
// made, htpasswd auth), then reads it back.
func TestPushExampleAgent(t *testing.T) {
	reg := testenv.StartRegistry(t, testenv.RegistryOptions{})
	proxy := testenv.StartProxy(t, reg)
	dir := CopyExample(t, "agent")
	repo := proxy.Addr + "/acme/agent"
	env := []string{
		"AGENTSHIP_CACHE_DIR=" + filepath.Join(t.TempDir(), "cache"),
		"AGENTSHIP_PLATFORMS=linux/amd64,linux/arm64",
		"AGENTSHIP_ENGINE=local",
		"VERSION=v2.0.0",
		"IMAGE=" + repo,
		"AGENTSHIP_TAG_LATEST=1",
		"AGENTSHIP_TAGS=stable",
		"SSL_CERT_FILE=" + reg.CA.File,
		"REGISTRY_USERNAME=" + reg.User,
		"REGISTRY_PASSWORD=" + reg.Password,
	}
	var captured strings.Builder
	pushOnce := func(extra ...string) (string, error) {
		out, err := mage(t, dir, append(append([]string{}, env...), extra...), "image:push")
		captured.WriteString(out)
		return out, err
	}

	out, err := pushOnce()
	if err != nil {
		t.Fatalf("image:push: %v\n%s", err, out)
	}
	firstUploads := proxy.BlobUploads("acme/agent")

	// The local layout's index is what the registry holds, under every tag.
	lp, err := layout.FromPath(filepath.Join(dir, "dist", "oci"))
	if err != nil {
		t.Fatal(err)
	}
	root, _ := lp.ImageIndex()
	im, _ := root.IndexManifest()
	var local string
	for _, d := range im.Manifests {
		if d.Annotations["org.opencontainers.image.ref.name"] == "agent:v2.0.0" {
			local = d.Digest.String()
		}
	}
	if local == "" {
		t.Fatalf("no agent:v2.0.0 in dist/oci")
	}
	digestFile, err := os.ReadFile(filepath.Join(dir, "dist", "agent.digest"))
	if err != nil || strings.TrimSpace(string(digestFile)) != local {
		t.Errorf("dist/agent.digest = %q (%v), want %s", digestFile, err, local)
	}
	opts := []remote.Option{
		remote.WithTransport(reg.Client().Transport),
		remote.WithAuth(&authn.Basic{Username: reg.User, Password: reg.Password}),
	}
	for _, tag := range []string{"v2.0.0", "latest", "stable"} {
		ref, err := name.ParseReference(reg.Addr + "/acme/agent:" + tag)
		if err != nil {
			t.Fatal(err)
		}
		desc, err := remote.Get(ref, opts...)
		if err != nil {
			t.Fatalf("tag %s: %v", tag, err)
		}
		if desc.Digest.String() != local {
			t.Errorf("tag %s is %s, the local index is %s", tag, desc.Digest, local)
		}
		if !strings.Contains(out, repo+":"+tag+"@"+local) {
			t.Errorf("output does not print %s:%s@%s:\n%s", repo, tag, local, out)
		}
		idx, err := desc.ImageIndex()
		if err != nil {
			t.Fatal(err)
		}
		m, _ := idx.IndexManifest()
		var plats []string
		for _, c := range m.Manifests {
			plats = append(plats, c.Platform.String())
		}
		if strings.Join(plats, ",") != "linux/amd64,linux/arm64" {
			t.Errorf("tag %s lists platforms %v", tag, plats)
		}
	}
	if firstUploads == 0 {
		t.Error("the first push uploaded no blob through the proxy")
	}

	t.Run("unchanged push uploads nothing", func(t *testing.T) {
		proxy.Reset()
		if out, err := pushOnce(); err != nil {
			t.Fatalf("second image:push: %v\n%s", err, out)
		}
		if n := proxy.BlobUploads("acme/agent"); n != 0 {
			t.Errorf("an unchanged push uploaded %d blobs (the first uploaded %d)", n, firstUploads)
		}
	})

	t.Run("debug image gets its own tags", func(t *testing.T) {
		out, err := mage(t, dir, env, "image:pushDebug")
		captured.WriteString(out)
		if err != nil {
			t.Fatalf("image:pushDebug: %v\n%s", err, out)
		}
		for tag, wantProduction := range map[string]bool{"v2.0.0-debug": false, "latest-debug": false, "v2.0.0": true, "latest": true} {
			ref, _ := name.ParseReference(reg.Addr + "/acme/agent:" + tag)
			desc, err := remote.Get(ref, opts...)
			if err != nil {
				t.Fatalf("tag %s: %v", tag, err)
			}
			if (desc.Digest.String() == local) != wantProduction {
				t.Errorf("tag %s is %s; the production index is %s", tag, desc.Digest, local)
			}
		}
	})

	t.Run("wrong password", func(t *testing.T) {
		out, err := pushOnce("REGISTRY_PASSWORD=wrong-"+reg.Password[3:], "VERSION=v2.0.1")
		if err == nil {
			t.Fatalf("push with a wrong password succeeded:\n%s", out)
		}
		errLine := lastErrorLine(out)
		if !strings.Contains(errLine, proxy.Addr) || !strings.Contains(strings.ToLower(errLine), "auth") {
			t.Errorf("error does not name the registry and the auth failure: %q", errLine)
		}
		ref, _ := name.ParseReference(reg.Addr + "/acme/agent:v2.0.1")
		if _, err := remote.Get(ref, opts...); err == nil {
			t.Error("a failed push created the tag v2.0.1")
		}
	})

	t.Run("invalid reference fails before building", func(t *testing.T) {
		fresh := CopyExample(t, "agent")
		out, err := mage(t, fresh, append(append([]string{}, env...), "IMAGE=Bad/Repo:x:y"), "image:push")
		if err == nil || !strings.Contains(out, "not a valid reference") {
			t.Fatalf("want a reference error, got %v:\n%s", err, out)
		}
		if _, err := os.Stat(filepath.Join(fresh, "dist")); !os.IsNotExist(err) {
			t.Error("an invalid reference still built dist/")
		}
	})

	t.Run("registry down", func(t *testing.T) {
		out, err := pushOnce("IMAGE=" + testenv.FreeAddr(t) + "/acme/agent")
		if err == nil || !strings.Contains(lastErrorLine(out), "unreachable") {
			t.Fatalf("want an unreachable error, got %v:\n%s", err, out)
		}
	})

	planOut, err := mage(t, dir, env, "plan")
	if err != nil {
		t.Fatalf("mage plan: %v\n%s", err, planOut)
	}
	captured.WriteString(planOut)
	for _, secret := range []string{reg.Password, "wrong-" + reg.Password[3:]} {
		if strings.Contains(captured.String(), secret) {
			t.Errorf("a password appears in the captured logs, errors or plan: %q", secret)
		}
	}
}

// lastErrorLine is mage's "Error: …" line.
func lastErrorLine(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.HasPrefix(lines[i], "Error: ") {
			return lines[i]
		}
	}
	return ""
}

// TestPushLambdaImage pushes the Lambda image with `mage lambda:push`: one
// image manifest (Lambda refuses indexes), tagged <tag>-lambda.
func TestPushLambdaImage(t *testing.T) {
	reg := testenv.StartRegistry(t, testenv.RegistryOptions{})
	dir := CopyExample(t, "lambda-agent")
	env := []string{
		"AGENTSHIP_CACHE_DIR=" + filepath.Join(t.TempDir(), "cache"),
		"AGENTSHIP_ENGINE=local",
		"VERSION=v3.0.0",
		"IMAGE=" + reg.Addr + "/acme/lambda-agent",
		"SSL_CERT_FILE=" + reg.CA.File,
		"REGISTRY_USERNAME=" + reg.User,
		"REGISTRY_PASSWORD=" + reg.Password,
	}
	out, err := mage(t, dir, env, "lambda:push")
	if err != nil {
		t.Fatalf("lambda:push: %v\n%s", err, out)
	}
	ref, _ := name.ParseReference(reg.Addr + "/acme/lambda-agent:v3.0.0-lambda")
	desc, err := remote.Get(ref, remote.WithTransport(reg.Client().Transport), remote.WithAuth(&authn.Basic{Username: reg.User, Password: reg.Password}))
	if err != nil {
		t.Fatalf("read back: %v\n%s", err, out)
	}
	if !desc.MediaType.IsImage() {
		t.Fatalf("the Lambda image was pushed as %s; Lambda needs an image manifest", desc.MediaType)
	}
	img, _ := desc.Image()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(cf.Config.Entrypoint, " ") != "/bootstrap" || cf.Architecture != "amd64" {
		t.Errorf("entrypoint %v arch %s", cf.Config.Entrypoint, cf.Architecture)
	}
	if strings.Contains(out, reg.Password) {
		t.Error("the password appears in the output")
	}
}
