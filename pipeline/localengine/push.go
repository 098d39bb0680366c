package localengine

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/aixgo-dev/agentship/internal/registry"
	"github.com/aixgo-dev/agentship/pipeline"
)

// Push builds the target's image (reusing unchanged outputs), then pushes it
// from dist/oci: the whole image by digest first, the tags only after, so a
// failed push never leaves a tag on a partial image. It writes the digest to
// dist/<name>.digest for deploy steps to pin.
func (e *Engine) Push(ctx context.Context, p *pipeline.Plan, target string) (*pipeline.Published, error) {
	var img pipeline.Image
	var step pipeline.Step
	switch target {
	case "production":
		img, step = p.Production, pipeline.StepProduction
	case "debug":
		img, step = p.Debug, pipeline.StepDebug
	case "lambda":
		img, step = p.Lambda.Image, pipeline.StepLambdaImage
	default:
		return nil, fmt.Errorf("cannot push %q: push production, debug or lambda", target)
	}
	steps := []pipeline.Step{step}
	if target != "lambda" {
		steps = append(steps, pipeline.StepBinaries)
	}
	res, err := e.Run(ctx, p, steps...)
	if err != nil {
		return nil, err
	}
	e.log.Debug(res.Summary())
	pushed, err := registry.Push(ctx, registry.PushOptions{
		LayoutDir:  filepath.Join(p.Dir, filepath.FromSlash(p.Dist.OCILayout)),
		RefName:    img.Tag,
		Repository: p.Push.Repository,
		Tags:       p.PushTags(target),
		Log:        e.log,
	})
	if err != nil {
		return nil, err
	}
	if target == "production" {
		if err := registry.WriteDigestFile(filepath.Join(p.Dir, filepath.FromSlash(p.Dist.Digest)), pushed.Digest); err != nil {
			return nil, fmt.Errorf("pushed %s, but writing %s failed: %w", pushed.Pinned, p.Dist.Digest, err)
		}
	}
	return &pipeline.Published{Repository: pushed.Repository, Digest: pushed.Digest, References: pushed.References}, nil
}
