package daggerengine

import (
	"context"
	"fmt"
	"os"
	"strings"

	"dagger.io/dagger"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/aixgo-dev/agentship/pipeline"
)

// PublishOptions say how Publish authenticates. The zero value finds
// credentials as the local engine's push does, first match wins:
// REGISTRY_USERNAME and REGISTRY_PASSWORD for the registry named by
// REGISTRY (else the one pushed to); GITHUB_TOKEN for ghcr.io as
// GITHUB_ACTOR (else x-access-token); and otherwise the Docker credentials
// Dagger finds on the host.
type PublishOptions struct {
	// Username for the registry; required with Password.
	Username string
	// Password is a Dagger secret provider URI, never the password itself:
	// env://NAME, file:///path, cmd://…, op://…, vault://…. The engine
	// resolves it on the host, so the plaintext is in no query and no log.
	Password string
	// Getenv reads the variables above (default os.Getenv).
	Getenv func(string) string
}

func (o PublishOptions) getenv(k string) string {
	if o.Getenv != nil {
		return o.Getenv(k)
	}
	return os.Getenv(k)
}

// RegistryAuth is the username and secret provider URI Publish uses for
// repository, or ok=false when it leaves auth to the host's Docker
// credentials.
func (o PublishOptions) RegistryAuth(repository string) (username, passwordURI string, ok bool, err error) {
	registry := registryOf(repository)
	if o.Password != "" {
		if !strings.Contains(o.Password, "://") {
			return "", "", false, fmt.Errorf("the registry password must be given as a secret provider URI (env://NAME, file:///path), never as the password itself")
		}
		if o.Username == "" {
			return "", "", false, fmt.Errorf("a registry password is set but no username: set PublishOptions.Username for %s", registry)
		}
		return o.Username, o.Password, true, nil
	}
	if user := o.getenv("REGISTRY_USERNAME"); user != "" && o.getenv("REGISTRY_PASSWORD") != "" {
		scope := o.getenv("REGISTRY")
		if scope == "" || registryOf(scope) == registry {
			return user, "env://REGISTRY_PASSWORD", true, nil
		}
	}
	if registry == "ghcr.io" && o.getenv("GITHUB_TOKEN") != "" {
		actor := o.getenv("GITHUB_ACTOR")
		if actor == "" {
			actor = "x-access-token"
		}
		return actor, "env://GITHUB_TOKEN", true, nil
	}
	return "", "", false, nil
}

// registryOf is the registry host of a repository or registry reference
// ("docker.io", "https://ghcr.io/acme/x"), as go-containerregistry names it.
func registryOf(ref string) string {
	s := strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(ref), "https://"), "http://")
	host, _, _ := strings.Cut(s, "/")
	if strings.ContainsAny(host, ".:") || host == "localhost" {
		if reg, err := name.NewRegistry(host); err == nil {
			return reg.RegistryStr()
		}
	}
	if r, err := name.NewRepository(s); err == nil {
		return r.RegistryStr()
	}
	return strings.ToLower(host)
}

// Publish pushes one multi-platform image, images[0] with images[1:] as
// its platform variants, to push.Repository under each of push.Tags, and
// returns the pushed references as repo:tag@sha256:…. Registry credentials
// are a Dagger secret made from a provider URI (see PublishOptions).
func Publish(ctx context.Context, client Client, push pipeline.Push, images []*dagger.Container, opts PublishOptions) ([]string, error) {
	if len(images) == 0 {
		return nil, fmt.Errorf("publish: no image to push")
	}
	if push.Repository == "" || len(push.Tags) == 0 {
		return nil, fmt.Errorf("publish: the plan names no repository or tag: set Agent.Repository (or IMAGE)")
	}
	user, uri, auth, err := opts.RegistryAuth(push.Repository)
	if err != nil {
		return nil, err
	}
	ctr := images[0]
	if auth {
		ctr = ctr.WithRegistryAuth(push.Repository, user, client.Secret(uri))
	}
	var refs []string
	for _, tag := range push.Tags {
		ref, err := ctr.Publish(ctx, push.Repository+":"+tag, dagger.ContainerPublishOpts{
			PlatformVariants:  images[1:],
			ForcedCompression: dagger.ImageLayerCompressionGzip,
			MediaTypes:        dagger.ImageMediaTypesOcimediaTypes,
		})
		if err != nil {
			return refs, fmt.Errorf("push %s:%s: %w", push.Repository, tag, err)
		}
		refs = append(refs, ref)
	}
	return refs, nil
}

// digestOf is the sha256:… of a repo:tag@sha256:… reference.
func digestOf(ref string) string {
	if i := strings.LastIndex(ref, "@"); i >= 0 {
		return ref[i+1:]
	}
	return ""
}
