package registry

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

// resolve is what the keychain gives for a push to repo: "" when anonymous,
// else "user:password".
func resolve(t *testing.T, kc authn.Keychain, repo string) string {
	t.Helper()
	r, err := name.NewRepository(repo)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := authn.Resolve(context.Background(), kc, r)
	if err != nil {
		t.Fatal(err)
	}
	if auth == authn.Anonymous {
		return ""
	}
	cfg, err := authn.Authorization(context.Background(), auth)
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Username + ":" + cfg.Password
}

func TestKeychainEnvironment(t *testing.T) {
	hermeticDocker(t)
	creds := []string{EnvUsername, "bot", EnvPassword, "s3cret-pw"}
	cases := []struct {
		name     string
		registry string // the push target's registry
		env      []string
		repo     string
		want     string
	}{
		{"username/password for the target registry", "127.0.0.1:5000", creds, "127.0.0.1:5000/agent", "bot:s3cret-pw"},
		{"not offered to another registry", "127.0.0.1:5000", creds, "index.docker.io/library/alpine", ""},
		{"Docker Hub spelled two ways", "docker.io", creds, "acme/agent", "bot:s3cret-pw"},
		{"REGISTRY scopes them", "127.0.0.1:5000", append([]string{EnvRegistry, "registry.example.com"}, creds...), "registry.example.com/acme/agent", "bot:s3cret-pw"},
		{"REGISTRY scopes them away from the target", "127.0.0.1:5000", append([]string{EnvRegistry, "registry.example.com"}, creds...), "127.0.0.1:5000/agent", ""},
		{"REGISTRY may be a URL with a path", "", append([]string{EnvRegistry, "https://ghcr.io/acme"}, creds...), "ghcr.io/acme/agent", "bot:s3cret-pw"},
		{"half the pair is nothing", "127.0.0.1:5000", []string{EnvUsername, "bot"}, "127.0.0.1:5000/agent", ""},
		{"GITHUB_TOKEN for ghcr.io as the actor", "ghcr.io", []string{EnvGitHubToken, "ghs_token", EnvGitHubActor, "octocat"}, "ghcr.io/acme/agent", "octocat:ghs_token"},
		{"GITHUB_TOKEN without an actor", "ghcr.io", []string{EnvGitHubToken, "ghs_token"}, "ghcr.io/acme/agent", "x-access-token:ghs_token"},
		{"GITHUB_TOKEN only for ghcr.io", "registry.example.com", []string{EnvGitHubToken, "ghs_token"}, "registry.example.com/acme/agent", ""},
		{"REGISTRY_USERNAME before GITHUB_TOKEN", "ghcr.io", append([]string{EnvGitHubToken, "ghs_token"}, creds...), "ghcr.io/acme/agent", "bot:s3cret-pw"},
		{"nothing set is anonymous", "ghcr.io", nil, "ghcr.io/acme/agent", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := resolve(t, Keychain(c.registry, envOf(c.env...)), c.repo); got != c.want {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
}

// Without credentials in the environment the Docker config answers (what
// `docker login` wrote), and the environment wins over it.
func TestKeychainDockerConfig(t *testing.T) {
	home := hermeticDocker(t)
	writeDockerConfig(t, filepath.Join(home, ".docker"), "127.0.0.1:5000", "docker-user", "docker-pw")

	if got := resolve(t, Keychain("127.0.0.1:5000", envOf()), "127.0.0.1:5000/agent"); got != "docker-user:docker-pw" {
		t.Errorf("docker config: got %q", got)
	}
	env := envOf(EnvUsername, "env-user", EnvPassword, "env-pw-1")
	if got := resolve(t, Keychain("127.0.0.1:5000", env), "127.0.0.1:5000/agent"); got != "env-user:env-pw-1" {
		t.Errorf("environment over docker config: got %q", got)
	}
}

func writeDockerConfig(t *testing.T, dir, registry, user, password string) {
	t.Helper()
	cfg := map[string]any{"auths": map[string]any{
		registry: map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte(user + ":" + password))},
	}}
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
}
