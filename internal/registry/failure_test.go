package registry

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aixgo-dev/agentship/internal/testenv"
)

// A wrong password fails in one line naming the registry and the auth
// failure, with the password nowhere, and creates no tag.
func TestPushWrongPassword(t *testing.T) {
	hermeticDocker(t)
	reg := testenv.StartRegistry(t, testenv.RegistryOptions{})
	dir, _ := makeLayout(t)
	log, logs := testLogger()
	wrong := "wrong-" + reg.Password
	repo := reg.Addr + "/agent"

	_, err := Push(context.Background(), fastOptions(dir, repo,
		envOf(EnvUsername, reg.User, EnvPassword, wrong, EnvCertFile, reg.CA.File), log, testTags...))
	assertOneLine(t, err, "push to "+repo+": ", "authentication failed (401", "REGISTRY_USERNAME/REGISTRY_PASSWORD", "docker login "+reg.Addr)
	t.Logf("error: %v", err)
	assertNoSecret(t, reg.User, wrong, err.Error(), logs.String())
	assertNoSecret(t, reg.User, reg.Password, err.Error(), logs.String())
	for _, tag := range testTags {
		if tagExists(t, reg, repo, tag) {
			t.Errorf("tag %s exists after a failed push", tag)
		}
	}
}

// The registry dies after n requests, for every n a push makes: the push
// fails in one line, no tag is written before the index is complete, and
// every tag that does exist resolves to the complete index.
func TestPushRegistryDiesMidway(t *testing.T) {
	hermeticDocker(t)
	reg := testenv.StartRegistry(t, testenv.RegistryOptions{})
	proxy := testenv.StartProxy(t, reg)
	dir, digest := makeLayout(t)
	log, logs := testLogger()

	// How many requests a whole push makes to a fresh repository.
	if _, err := Push(context.Background(), fastOptions(dir, proxy.Addr+"/probe", credsEnv(reg), log, testTags...)); err != nil {
		t.Fatal(err)
	}
	total := len(proxy.Requests())
	failed := 0
	for n := 0; n < total; n++ {
		repo := fmt.Sprintf("dies/at-%d", n)
		proxy.Reset()
		proxy.CutAfter(n, -1)
		opts := fastOptions(dir, proxy.Addr+"/"+repo, credsEnv(reg), log, testTags...)
		opts.Tries = 2
		_, err := Push(context.Background(), opts)
		proxy.Heal()
		if err == nil {
			// The cut came after the last request this push needed
			// (requests vary a little: a HEAD may be skipped).
			if proxy.Faulted() == 0 {
				continue
			}
			t.Errorf("n=%d: push succeeded though %d requests were cut", n, proxy.Faulted())
		} else {
			failed++
			assertOneLine(t, err, "push to "+proxy.Addr+"/"+repo+": ")
			assertNoSecret(t, reg.User, reg.Password, err.Error())
			if n == 0 {
				t.Logf("n=0: %v", err)
			}
			if n == total/2 || n == total-2 {
				t.Logf("n=%d: %v", n, err)
			}
		}
		for _, tag := range testTags {
			if tagExists(t, reg, reg.Addr+"/"+repo, tag) {
				assertComplete(t, reg, reg.Addr+"/"+repo+":"+tag, digest)
			} else if err == nil {
				t.Errorf("n=%d: push succeeded without tag %s", n, tag)
			} else if !strings.Contains(err.Error(), "but tagging") && !strings.Contains(err.Error(), "before any tag was written") {
				t.Errorf("n=%d: error does not say what became of the tags: %v", n, err)
			}
		}
	}
	if failed < total-len(testTags)*2 {
		t.Errorf("only %d of %d cut pushes failed", failed, total)
	}
	assertNoSecret(t, reg.User, reg.Password, logs.String())
}

// Two connections cut anywhere in a push are retried: the push succeeds and
// every tag resolves to the complete index.
func TestPushRetriesBrokenConnections(t *testing.T) {
	hermeticDocker(t)
	reg := testenv.StartRegistry(t, testenv.RegistryOptions{})
	proxy := testenv.StartProxy(t, reg)
	dir, digest := makeLayout(t)
	log, logs := testLogger()

	if _, err := Push(context.Background(), fastOptions(dir, proxy.Addr+"/probe", credsEnv(reg), log, testTags...)); err != nil {
		t.Fatal(err)
	}
	total := len(proxy.Requests())
	retried := 0
	for n := 0; n < total; n++ {
		repo := fmt.Sprintf("flaky/at-%d", n)
		proxy.Reset()
		proxy.CutAfter(n, 2)
		res, err := Push(context.Background(), fastOptions(dir, proxy.Addr+"/"+repo, credsEnv(reg), log, testTags...))
		proxy.Heal()
		if err != nil {
			t.Errorf("n=%d: %v", n, err)
			continue
		}
		retried += res.Retries
		assertComplete(t, reg, reg.Addr+"/"+repo+":"+testTags[0], digest)
		for _, tag := range testTags[1:] {
			assertTagIs(t, reg, reg.Addr+"/"+repo+":"+tag, digest)
		}
	}
	if retried == 0 {
		t.Error("no push met a transient error: the proxy did not cut anything")
	}
	t.Logf("%d pushes, %d retries", total, retried)
	if !strings.Contains(logs.String(), "transient error, retrying") {
		t.Errorf("retries were not logged:\n%s", logs)
	}
	assertNoSecret(t, reg.User, reg.Password, logs.String())
}

// A registry that is not running fails at once, in one line, without
// retrying what cannot succeed.
func TestPushRegistryDown(t *testing.T) {
	hermeticDocker(t)
	dir, _ := makeLayout(t)
	log, logs := testLogger()
	addr := testenv.FreeAddr(t)

	_, err := Push(context.Background(), fastOptions(dir, addr+"/agent", envOf(EnvUsername, "u", EnvPassword, "secret-pw"), log, "1.0.0"))
	assertOneLine(t, err, "push to "+addr+"/agent: registry "+addr+" is unreachable (connection refused): is it running")
	t.Logf("error: %v", err)
	if strings.Contains(logs.String(), "retrying") {
		t.Errorf("retried a registry that never answered:\n%s", logs)
	}

	// And one that was running and stopped.
	reg := testenv.StartRegistry(t, testenv.RegistryOptions{})
	reg.Stop()
	_, err = Push(context.Background(), fastOptions(dir, reg.Addr+"/agent", credsEnv(reg), log, "1.0.0"))
	assertOneLine(t, err, "registry "+reg.Addr+" is unreachable (connection refused)")
}

// A registry whose TLS certificate comes from an unknown CA fails with the
// fix (SSL_CERT_FILE); the CA in SSL_CERT_FILE makes it work.
func TestPushCustomCA(t *testing.T) {
	hermeticDocker(t)
	reg := testenv.StartRegistry(t, testenv.RegistryOptions{})
	dir, digest := makeLayout(t)
	repo := reg.Addr + "/agent"

	_, err := Push(context.Background(), fastOptions(dir, repo, envOf(EnvUsername, reg.User, EnvPassword, reg.Password), nil, "1.0.0"))
	assertOneLine(t, err, "push to "+repo+": the TLS certificate of registry "+reg.Addr+" is not trusted (certificate signed by unknown authority)", "set SSL_CERT_FILE")
	t.Logf("error: %v", err)

	res, err := Push(context.Background(), fastOptions(dir, repo, credsEnv(reg), nil, "1.0.0"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Digest != digest.String() {
		t.Errorf("digest %s, want %s", res.Digest, digest)
	}

	_, err = Push(context.Background(), fastOptions(dir, repo, credsEnv(reg, EnvCertFile, dir+"/index.json"), nil, "1.0.0"))
	assertOneLine(t, err, "SSL_CERT_FILE=", "holds no PEM certificate")
}

// Plain HTTP is used only for registries listed in
// AGENTSHIP_INSECURE_REGISTRIES, even on 127.0.0.1 where go-containerregistry
// would fall back to it on its own.
func TestPushInsecureRegistry(t *testing.T) {
	hermeticDocker(t)
	reg := testenv.StartRegistry(t, testenv.RegistryOptions{PlainHTTP: true})
	dir, digest := makeLayout(t)
	log, logs := testLogger()
	repo := reg.Addr + "/agent"

	_, err := Push(context.Background(), fastOptions(dir, repo, credsEnv(reg), log, "1.0.0"))
	assertOneLine(t, err, "push to "+repo+": registry "+reg.Addr+" speaks plain HTTP", "AGENTSHIP_INSECURE_REGISTRIES="+reg.Addr)
	t.Logf("error: %v", err)

	res, err := Push(context.Background(), fastOptions(dir, repo,
		credsEnv(reg, EnvInsecure, "example.com:5000, "+reg.Addr), log, "1.0.0"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Digest != digest.String() || res.BlobsUploaded != 5 {
		t.Errorf("insecure push: %+v", res)
	}
	assertComplete(t, reg, repo+":1.0.0", digest)
	assertNoSecret(t, reg.User, reg.Password, logs.String())
}

// Whatever a registry says goes into the error, but never a secret: a
// registry (or proxy) that echoes the credentials gets them scrubbed.
func TestPushScrubsSecretsFromRegistryErrors(t *testing.T) {
	hermeticDocker(t)
	const user, password, token = "ci-bot", "hunter2-but-longer", "ghp_0123456789abcdef"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok {
			w.Header().Set("WWW-Authenticate", `Basic realm="echo"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if r.Method == http.MethodHead {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, `{"errors":[{"code":"DENIED","message":"user %s with password %s and header %s may not push"}]}`,
			u, p, r.Header.Get("Authorization"))
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	dir, _ := makeLayout(t)
	log, logs := testLogger()

	_, err := Push(context.Background(), fastOptions(dir, host+"/agent",
		envOf(EnvUsername, user, EnvPassword, password, EnvGitHubToken, token, EnvInsecure, host), log, "1.0.0"))
	assertOneLine(t, err, "access denied", "user ci-bot with password *** and header Basic ***")
	t.Logf("error: %v", err)
	assertNoSecret(t, user, password, err.Error(), logs.String())
}

// What can be checked without the network is checked before it: a bad
// repository or tag, a missing image, half the credentials.
func TestPushFailsBeforeNetwork(t *testing.T) {
	hermeticDocker(t)
	dir, _ := makeLayout(t)
	// Nothing listens here; a request would fail with "unreachable".
	addr := testenv.FreeAddr(t)
	cases := []struct {
		name  string
		opts  PushOptions
		wants []string
	}{
		{"bad repository", PushOptions{Repository: addr + "/Agent!"}, []string{"is not a valid repository", "use registry/namespace/name"}},
		{"bad tag", PushOptions{Repository: addr + "/agent", Tags: []string{"-dev"}}, []string{`tag "-dev" is not valid`}},
		{"no such image", PushOptions{Repository: addr + "/agent", RefName: "agent:9.9.9"}, []string{`no image named "agent:9.9.9"`, "it has: agent:1.0.0"}},
		{"no layout", PushOptions{Repository: addr + "/agent", LayoutDir: dir + "/nope"}, []string{"no OCI image layout at"}},
		{"half the credentials", PushOptions{Repository: addr + "/agent", Getenv: envOf(EnvUsername, "u")}, []string{"REGISTRY_USERNAME is set but REGISTRY_PASSWORD is not"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			opts := c.opts
			if opts.LayoutDir == "" {
				opts.LayoutDir = dir
			}
			if opts.RefName == "" {
				opts.RefName = testRef
			}
			if opts.Getenv == nil {
				opts.Getenv = envOf()
			}
			_, err := Push(context.Background(), opts)
			assertOneLine(t, err, c.wants...)
			if strings.Contains(err.Error(), "unreachable") {
				t.Errorf("reached for the network: %v", err)
			}
			t.Logf("error: %v", err)
		})
	}
}

// A registry that hangs on a request is given ResponseTimeout, then the
// request is retried; a push through a few hangs succeeds.
func TestPushRetriesTimeouts(t *testing.T) {
	hermeticDocker(t)
	reg := testenv.StartRegistry(t, testenv.RegistryOptions{})
	proxy := testenv.StartProxy(t, reg)
	dir, digest := makeLayout(t)
	log, logs := testLogger()

	for _, n := range []int{0, 6, 12, 24} {
		repo := fmt.Sprintf("hangs/at-%d", n)
		proxy.StallAfter(n, 1, 5*time.Second)
		opts := fastOptions(dir, proxy.Addr+"/"+repo, credsEnv(reg), log, testTags...)
		opts.ResponseTimeout = 200 * time.Millisecond
		res, err := Push(context.Background(), opts)
		proxy.Heal()
		if err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		if proxy.Faulted() != 1 || res.Retries < 1 {
			t.Errorf("n=%d: %d requests stalled, %d retries", n, proxy.Faulted(), res.Retries)
		}
		assertComplete(t, reg, reg.Addr+"/"+repo+":"+testTags[0], digest)
	}
	if !strings.Contains(logs.String(), "timeout awaiting response headers") {
		t.Errorf("the timeout was not logged:\n%s", logs)
	}

	// Hanging on every request: bounded, then one line.
	proxy.StallAfter(0, -1, 5*time.Second)
	opts := fastOptions(dir, proxy.Addr+"/hangs/always", credsEnv(reg), log, testTags...)
	opts.ResponseTimeout = 100 * time.Millisecond
	opts.Tries = 2
	_, err := Push(context.Background(), opts)
	proxy.Heal()
	assertOneLine(t, err, "registry "+proxy.Addr+" did not answer in time after 2 tries")
	t.Logf("error: %v", err)
}

// A cancelled push says so, and is not retried.
func TestPushCancelled(t *testing.T) {
	hermeticDocker(t)
	reg := testenv.StartRegistry(t, testenv.RegistryOptions{})
	dir, _ := makeLayout(t)
	log, logs := testLogger()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Push(ctx, fastOptions(dir, reg.Addr+"/agent", credsEnv(reg), log, "1.0.0"))
	assertOneLine(t, err, "push to "+reg.Addr+"/agent: cancelled")
	if strings.Contains(logs.String(), "retrying") {
		t.Errorf("retried a cancelled push:\n%s", logs)
	}
}
