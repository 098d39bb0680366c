package targets

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// dockerAnswers fails with one line when no Docker daemon answers, before
// anything is built.
func dockerAnswers(ctx context.Context) error {
	if _, err := exec.LookPath("docker"); err != nil {
		return fmt.Errorf("image:load needs the docker CLI and a running Docker daemon: install Docker, or load dist/*-image.tar with podman load -i")
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, "docker", "version", "--format", "{{.Server.Version}}")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		why := strings.Join(strings.Fields(out.String()), " ")
		if len(why) > 200 {
			why = why[:200] + "…"
		}
		return fmt.Errorf("no Docker daemon answers (%s): start Docker, or load dist/*-image.tar with podman load -i", why)
	}
	return nil
}

func dockerLoad(ctx context.Context, tarPath string) error {
	cmd := exec.CommandContext(ctx, "docker", "load", "-i", tarPath)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("docker load -i %s: %s", tarPath, strings.TrimSpace(out.String()))
	}
	fmt.Print(out.String())
	return nil
}
