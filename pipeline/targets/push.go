package targets

import (
	"context"
	"fmt"
	"os"

	"github.com/aixgo-dev/agentship/pipeline"
)

// Push pushes the Production image (all platforms, one index) to IMAGE, tagged with the version and the short commit.
func (Image) Push(ctx context.Context) error { return push(ctx, "production") }

// PushDebug pushes the Debug image to IMAGE, its tags suffixed -debug (v1.2.0-debug).
func (Image) PushDebug(ctx context.Context) error { return push(ctx, "debug") }

// Push pushes the Lambda container image (one image manifest, as Lambda requires) to IMAGE, tags suffixed -lambda.
func (Lambda) Push(ctx context.Context) error { return push(ctx, "lambda") }

// push checks the reference before building anything, then lets the engine
// build and push, and prints each pushed reference.
func push(ctx context.Context, target string) error {
	if Agent.Repository == "" && os.Getenv("IMAGE") == "" {
		return fmt.Errorf("no image repository to push to: set IMAGE=registry/namespace/name (e.g. ghcr.io/acme/agent) or Agent.Repository")
	}
	p, log, err := load()
	if err != nil {
		return err
	}
	eng, err := selectEngine(log)
	if err != nil {
		return err
	}
	pub, ok := eng.(pipeline.Publisher)
	if !ok {
		return fmt.Errorf("the %s engine cannot push: use AGENTSHIP_ENGINE=local", eng.Name())
	}
	out, err := pub.Push(ctx, p, target)
	if err != nil {
		return err
	}
	for _, ref := range out.References {
		fmt.Println(ref)
	}
	if target == "production" {
		fmt.Printf("digest %s written to %s\n", out.Digest, p.Dist.Digest)
	}
	return nil
}
