package registry

import (
	"context"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aixgo-dev/agentship/internal/testenv"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

var testTags = []string{"1.0.0", "abc1234", "latest"}

// A two-platform index goes up whole, reads back identical, every tag
// resolves to it, and tags are written only after the index; a second push
// of the same image uploads nothing.
func TestPushTwoPlatformsThenNothing(t *testing.T) {
	hermeticDocker(t)
	reg := testenv.StartRegistry(t, testenv.RegistryOptions{})
	proxy := testenv.StartProxy(t, reg)
	dir, digest := makeLayout(t)
	log, logs := testLogger()
	repo := proxy.Addr + "/agent"

	res, err := Push(context.Background(), fastOptions(dir, repo, credsEnv(reg), log, testTags...))
	if err != nil {
		t.Fatalf("push: %v\nlog:\n%s", err, logs)
	}
	if res.Digest != digest.String() {
		t.Fatalf("pushed digest %s, layout has %s", res.Digest, digest)
	}
	if res.Pinned != repo+"@"+digest.String() {
		t.Errorf("Pinned = %s", res.Pinned)
	}
	var want []string
	for _, tag := range testTags {
		want = append(want, repo+":"+tag+"@"+digest.String())
	}
	if !slices.Equal(res.References, want) {
		t.Errorf("References = %q, want %q", res.References, want)
	}
	// 3 distinct layers (one shared by both platforms) and 2 configs.
	if res.BlobsUploaded != 5 || proxy.BlobUploads("agent") != 5 {
		t.Errorf("first push uploaded %d blobs (proxy counted %d uploads), want 5", res.BlobsUploaded, proxy.BlobUploads("agent"))
	}
	t.Logf("first push: %d requests, %d blob uploads, %d bytes, %s", len(proxy.Requests()), proxy.BlobUploads("agent"), res.BytesUploaded, res.Duration)

	// Read back from the registry itself, by each tag.
	for _, tag := range testTags {
		assertComplete(t, reg, reg.Addr+"/agent:"+tag, digest)
	}
	ref, err := name.ParseReference(reg.Addr + "/agent:1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	idx, err := remote.Index(ref, readOpts(t, reg)...)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var platforms []string
	for _, d := range im.Manifests {
		platforms = append(platforms, d.Platform.String())
	}
	slices.Sort(platforms)
	if !slices.Equal(platforms, []string{"linux/amd64", "linux/arm64"}) {
		t.Errorf("index lists %q", platforms)
	}

	// No tag was written before the index was complete.
	reqs := proxy.Requests()
	indexPut := slices.Index(reqs, "PUT /v2/agent/manifests/"+digest.String())
	if indexPut < 0 {
		t.Fatalf("the index was not PUT by digest: %q", reqs)
	}
	for i, r := range reqs {
		if strings.HasPrefix(r, "PUT /v2/agent/manifests/") && !strings.Contains(r, "sha256:") && i < indexPut {
			t.Errorf("tag written before the index: %q", reqs)
		}
		if strings.HasPrefix(r, "PUT /v2/agent/blobs/") && i > indexPut {
			t.Errorf("blob uploaded after the index: %q", reqs)
		}
	}

	// Again, unchanged: nothing to upload, no manifest rewritten.
	proxy.Reset()
	res2, err := Push(context.Background(), fastOptions(dir, repo, credsEnv(reg), log, testTags...))
	if err != nil {
		t.Fatalf("second push: %v", err)
	}
	if res2.BlobsUploaded != 0 || proxy.BlobUploads("agent") != 0 {
		t.Errorf("second push uploaded %d blobs (proxy counted %d uploads), want 0", res2.BlobsUploaded, proxy.BlobUploads("agent"))
	}
	if n := proxy.Count(http.MethodPut, "/v2/") + proxy.Count(http.MethodPatch, "/v2/"); n != 0 {
		t.Errorf("second push wrote %d times: %q", n, proxy.Requests())
	}
	if !slices.Equal(res2.References, want) || res2.Digest != digest.String() {
		t.Errorf("second push: %+v", res2)
	}
	t.Logf("second push: %d requests (%q), %d blob uploads", len(proxy.Requests()), proxy.Requests(), proxy.BlobUploads("agent"))

	// The digest file deploy steps pin.
	file := filepath.Join(t.TempDir(), "dist", "agent.digest")
	if err := WriteDigestFile(file, res.Digest); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadDigestFile(file); err != nil || got != digest.String() {
		t.Errorf("digest file holds %q (%v)", got, err)
	}

	assertNoSecret(t, reg.User, reg.Password, logs.String())
	if !strings.Contains(logs.String(), "uploaded layer 3 of 3") {
		t.Errorf("no per-layer progress in the log:\n%s", logs)
	}
}
