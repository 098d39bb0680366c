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

// PublishOptions say how Publish authenticates. The zero value reads
// REGISTRY_USERNAME and REGISTRY_PASSWORD (GITHUB_ACTOR and GITHUB_TOKEN for
// ghcr.io in GitHub Actions), and with neither leaves auth to the Docker
// credentials Dagger finds on the host.
type PublishOptions struct {
	// Username for the registry (default $REGISTRY_USERNAME).
	Username string
	// Password is a Dagger secret provider URI, never the password itself:
	// env://NAME, file:///path, cmd://…, op://…, vault://… (default
	// env://REGISTRY_PASSWORD when that variable is set). The engine
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
	username = o.Username
	if username == "" {
		username = o.getenv("REGISTRY_USERNAME")
	}
	switch {
	case o.Password != "":
		if !strings.Contains(o.Password, "://") {
			return "", "", false, fmt.Errorf("the registry password must be given as a secret provider URI (env://NAME, file:///path), never as the password itself")
		}
		passwordURI = o.Password
	case o.getenv("REGISTRY_PASSWORD") != "":
		passwordURI = "env://REGISTRY_PASSWORD"
	case registryOf(repository) == "ghcr.io" && o.getenv("GITHUB_TOKEN") != "":
		passwordURI = "env://GITHUB_TOKEN"
		if username == "" {
			username = o.getenv("GITHUB_ACTOR")
		}
	default:
		return "", "", false, nil
	}
	if username == "" {
		return "", "", false, fmt.Errorf("a registry password is set but no username: set REGISTRY_USERNAME for %s", registryOf(repository))
	}
	return username, passwordURI, true, nil
}

func registryOf(repository string) string {
	r, err := name.NewRepository(repository)
	if err != nil {
		return repository
	}
	return r.RegistryStr()
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
