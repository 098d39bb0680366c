package registry

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aixgo-dev/agentship/internal/testenv"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/sirupsen/logrus"
)

// `docker login` is enough: with nothing in the environment, the push
// takes the Docker config's credentials.
func TestPushWithDockerConfig(t *testing.T) {
	home := hermeticDocker(t)
	reg := testenv.StartRegistry(t, testenv.RegistryOptions{})
	writeDockerConfig(t, filepath.Join(home, ".docker"), reg.Addr, reg.User, reg.Password)
	dir, digest := makeLayout(t)
	log, logs := testLogger()

	res, err := Push(context.Background(), fastOptions(dir, reg.Addr+"/agent", envOf(EnvCertFile, reg.CA.File), log, "1.0.0"))
	if err != nil {
		t.Fatal(err)
	}
	assertTagIs(t, reg, reg.Addr+"/agent:1.0.0", digest)
	if res.Digest != digest.String() {
		t.Errorf("digest %s", res.Digest)
	}
	assertNoSecret(t, reg.User, reg.Password, logs.String())
}

// Go on Linux takes SSL_CERT_FILE from the process environment for its
// system roots, and so does a Push with the default Getenv: checked in a
// child process, since Go loads the system roots once per process.
func TestSSLCertFileFromProcessEnvironment(t *testing.T) {
	if os.Getenv("AGENTSHIP_TEST_CHILD") != "" {
		t.Skip("in the child")
	}
	reg := testenv.StartRegistry(t, testenv.RegistryOptions{})
	dir, digest := makeLayout(t)
	home := t.TempDir()
	child := func(extra ...string) (string, error) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestChildPushFromProcessEnvironment$", "-test.count=1", "-test.v")
		cmd.Env = append([]string{
			"PATH=" + os.Getenv("PATH"), "HOME=" + home, "DOCKER_CONFIG=" + filepath.Join(home, ".docker"),
			"AGENTSHIP_TEST_CHILD=1",
			"CHILD_URL=" + reg.URL() + "/v2/",
			"CHILD_LAYOUT=" + dir,
			"CHILD_REPO=" + reg.Addr + "/agent",
			EnvUsername + "=" + reg.User,
			EnvPassword + "=" + reg.Password,
		}, extra...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := child(EnvCertFile + "=" + reg.CA.File); err != nil {
		t.Fatalf("with SSL_CERT_FILE: %v\n%s", err, out)
	}
	assertTagIs(t, reg, reg.Addr+"/agent:from-env", digest)
	out, err := child()
	if err == nil || !strings.Contains(out, "certificate signed by unknown authority") {
		t.Fatalf("without SSL_CERT_FILE the child should fail on the certificate: %v\n%s", err, out)
	}
}

// TestChildPushFromProcessEnvironment runs only as the child of the test
// above: an HTTPS request with Go's defaults, then a Push with Getenv nil.
func TestChildPushFromProcessEnvironment(t *testing.T) {
	if os.Getenv("AGENTSHIP_TEST_CHILD") == "" {
		t.Skip("run by TestSSLCertFileFromProcessEnvironment")
	}
	resp, err := http.Get(os.Getenv("CHILD_URL"))
	if err != nil {
		t.Fatalf("Go's default client: %v", err)
	}
	resp.Body.Close()
	_, err = Push(context.Background(), PushOptions{
		LayoutDir:  os.Getenv("CHILD_LAYOUT"),
		RefName:    testRef,
		Repository: os.Getenv("CHILD_REPO"),
		Tags:       []string{"from-env"},
		Tries:      1,
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A registry that keeps failing with 503 is tried exactly Tries times per
// request, then the push fails in one line.
func TestPushBoundedRetries(t *testing.T) {
	hermeticDocker(t)
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	dir, _ := makeLayout(t)
	log, logs := testLogger()

	opts := fastOptions(dir, host+"/agent", envOf(EnvInsecure, host), log, "1.0.0")
	opts.Tries = 3
	start := time.Now()
	_, err := Push(context.Background(), opts)
	assertOneLine(t, err, "push to "+host+"/agent: registry "+host+" failed (503 Service Unavailable) after 3 tries", "re-run the push")
	t.Logf("error after %s: %v", time.Since(start), err)
	if n := hits.Load(); n != 3 {
		t.Errorf("the registry was asked %d times, want 3", n)
	}
	if got := strings.Count(logs.String(), "level=warning"); got != 1 {
		t.Errorf("%d warnings for one repeated error, want 1:\n%s", got, logs)
	}
}

// A long upload logs how far it got, at most once per interval, and only
// when something moved.
func TestLogProgress(t *testing.T) {
	buf := &testenv.SyncBuffer{}
	l := logrus.New()
	l.SetOutput(buf)
	updates := make(chan v1.Update)
	done := make(chan struct{})
	go logProgress(l, updates, 4<<20, 5*time.Millisecond, done)
	steps := []struct {
		complete int64
		line     string
	}{
		{1 << 20, "pushing: 1.0 MiB of 4.0 MiB (25%)"},
		{2 << 20, "pushing: 2.0 MiB of 4.0 MiB (50%)"},
		{4 << 20, "pushing: 4.0 MiB of 4.0 MiB (100%)"},
	}
	for _, s := range steps {
		updates <- v1.Update{Total: 4 << 20, Complete: s.complete}
		deadline := time.Now().Add(5 * time.Second)
		for !strings.Contains(buf.String(), s.line) && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if !strings.Contains(buf.String(), s.line) {
			t.Fatalf("missing %q in:\n%s", s.line, buf)
		}
	}
	// Nothing moved: no more lines.
	time.Sleep(30 * time.Millisecond)
	close(updates)
	<-done
	out := buf.String()
	if n := strings.Count(out, "pushing:"); n != 3 {
		t.Errorf("%d progress lines, want 3 (one per change):\n%s", n, out)
	}
}

func TestWriteDigestFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "dist", "agent.digest")
	const d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	if err := WriteDigestFile(path, d); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil || string(b) != d+"\n" {
		t.Fatalf("file holds %q (%v)", b, err)
	}
	if err := WriteDigestFile(path, "sha256:nope"); err == nil {
		t.Error("wrote a bad digest")
	}
	if got, err := ReadDigestFile(path); err != nil || got != d {
		t.Errorf("read %q (%v), want the first digest kept", got, err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
}
