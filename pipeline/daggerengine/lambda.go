package daggerengine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"dagger.io/dagger"

	"github.com/aixgo-dev/agentship/internal/elfcheck"
	"github.com/aixgo-dev/agentship/internal/lambdazip"
	"github.com/aixgo-dev/agentship/pipeline"
)

// LambdaBuild is the Lambda step in Dagger.
type LambdaBuild struct {
	Platform pipeline.Platform
	// Container is the Builder's source container after the bootstrap's
	// go build (GOARCH from the plan, -tags lambda.norpc).
	Container *dagger.Container
	// Bootstrap is the static binary provided.al2023 runs.
	Bootstrap *dagger.File
	// Image is the Lambda container image: scratch with /bootstrap as the
	// entrypoint, the config and the CA certificates.
	Image *dagger.Container
}

// Lambda defines the Lambda step: the bootstrap built in the Builder's
// container with p.Lambda.Build, and the Lambda image around it. The zip is
// not a Dagger object: LambdaZip writes it on the host with the same code
// as the local engine, so both engines hand AWS the same bytes.
func Lambda(client Client, p *pipeline.Plan, bins *Binaries) (*LambdaBuild, error) {
	if bins == nil {
		return nil, fmt.Errorf("lambda: no Builder output: call Builder first")
	}
	if p.Lambda.Build.Package == "" {
		return nil, fmt.Errorf("the plan has no Lambda build: make it with pipeline.MakePlan")
	}
	ctr := goBuild(bins.Source, p.Lambda.Build)
	boot := ctr.File(buildOutput(p.Lambda.Build))
	imgs, err := images(client, p, p.Lambda.Image, bins, boot)
	if err != nil {
		return nil, err
	}
	return &LambdaBuild{
		Platform:  p.Lambda.Build.Platform,
		Container: ctr,
		Bootstrap: boot,
		Image:     imgs[0],
	}, nil
}

// LambdaZip exports the bootstrap to a temp file on the host, checks that
// it is a static binary for the Lambda architecture, and writes the zip to
// out (p.Dir/p.Dist.LambdaZip when empty) with internal/lambdazip.
func LambdaZip(ctx context.Context, p *pipeline.Plan, bootstrap *dagger.File, out string) (pipeline.Artifact, error) {
	tmp, err := os.MkdirTemp("", "agentship-bootstrap-")
	if err != nil {
		return pipeline.Artifact{}, err
	}
	defer os.RemoveAll(tmp)
	boot := filepath.Join(tmp, "bootstrap")
	if _, err := bootstrap.Export(ctx, boot); err != nil {
		return pipeline.Artifact{}, fmt.Errorf("lambda bootstrap: %w", err)
	}
	if _, err := elfcheck.Check(boot, p.Lambda.Arch); err != nil {
		return pipeline.Artifact{}, fmt.Errorf("lambda bootstrap: %w", err)
	}
	info, err := lambdazip.Build(out, p, boot)
	if err != nil {
		return pipeline.Artifact{}, err
	}
	return pipeline.Artifact{
		Kind: "zip", Name: "lambda", Platform: "linux/" + p.Lambda.Arch,
		Path: p.Dist.LambdaZip, Size: info.Size, Digest: info.Digest(),
	}, nil
}
