package registry

import (
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

// Environment variables the keychain reads.
const (
	EnvUsername    = "REGISTRY_USERNAME"
	EnvPassword    = "REGISTRY_PASSWORD"
	EnvRegistry    = "REGISTRY"
	EnvGitHubToken = "GITHUB_TOKEN"
	EnvGitHubActor = "GITHUB_ACTOR"
)

// GitHubRegistry is where GITHUB_TOKEN is a credential.
const GitHubRegistry = "ghcr.io"

// Keychain finds credentials for a push to registry (host[:port]), first
// match wins:
//
//  1. REGISTRY_USERNAME and REGISTRY_PASSWORD, both set, for the registry
//     named by REGISTRY when that is set, else for registry: the one being
//     pushed to. They are never offered to any other registry (a base image
//     pulled from Docker Hub does not get the ghcr.io password).
//  2. GITHUB_TOKEN for ghcr.io, as user GITHUB_ACTOR (else
//     "x-access-token"): what a GitHub Actions job has.
//  3. go-containerregistry's default keychain: the Docker config
//     ($HOME/.docker/config.json or $DOCKER_CONFIG), its credential helpers,
//     and Podman's auth.json.
//
// Anything else is anonymous.
func Keychain(registry string, getenv func(string) string) authn.Keychain {
	return authn.NewMultiKeychain(envKeychain{registry: registry, getenv: getenv}, authn.DefaultKeychain)
}

type envKeychain struct {
	registry string
	getenv   func(string) string
}

func (k envKeychain) Resolve(target authn.Resource) (authn.Authenticator, error) {
	host := normalizeRegistry(target.RegistryStr())
	user, pass := k.getenv(EnvUsername), k.getenv(EnvPassword)
	if user != "" && pass != "" {
		scope := k.getenv(EnvRegistry)
		if scope == "" {
			scope = k.registry
		}
		if scope != "" && normalizeRegistry(scope) == host {
			return &authn.Basic{Username: user, Password: pass}, nil
		}
	}
	if token := k.getenv(EnvGitHubToken); token != "" && host == GitHubRegistry {
		actor := k.getenv(EnvGitHubActor)
		if actor == "" {
			actor = "x-access-token"
		}
		return &authn.Basic{Username: actor, Password: token}, nil
	}
	return authn.Anonymous, nil
}

// normalizeRegistry reduces "docker.io", "https://ghcr.io/acme/x" and the
// like to the registry host go-containerregistry compares.
func normalizeRegistry(s string) string {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(strings.TrimPrefix(s, "https://"), "http://")
	if i := strings.IndexByte(s, '/'); i >= 0 {
		s = s[:i]
	}
	if reg, err := name.NewRegistry(s); err == nil {
		return reg.RegistryStr()
	}
	return strings.ToLower(s)
}
