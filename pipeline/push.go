package pipeline

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// pushPlan derives the references image:push writes: the version, the short
// commit, latest when asked, and the agent's extra tags. A bad reference
// fails here, before anything is built.
func pushPlan(a Agent) (Push, error) {
	repo, err := name.NewRepository(a.Repository)
	if err != nil {
		return Push{}, fmt.Errorf("image repository %q is not a valid reference (%v): use registry/namespace/name, e.g. ghcr.io/acme/agent", a.Repository, err)
	}
	var tags []string
	add := func(t string) {
		for _, have := range tags {
			if have == t {
				return
			}
		}
		tags = append(tags, t)
	}
	add(TagFor(a.Version))
	if a.Commit != "unknown" && len(a.Commit) >= 7 {
		add(a.Commit[:7])
	}
	if a.TagLatest {
		add("latest")
	}
	for _, t := range a.ImageTags {
		if !validTag.MatchString(t) {
			return Push{}, fmt.Errorf("image tag %q is not valid: use up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'", t)
		}
		add(t)
	}
	return Push{Repository: repo.Name(), Tags: tags}, nil
}

var validTag = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

// TagFor turns a version into a valid tag: semver build metadata ("+") and
// any other character tags refuse become "-".
func TagFor(version string) string {
	t := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '.', r == '-':
			return r
		}
		return '-'
	}, version)
	t = strings.TrimLeft(t, ".-")
	if t == "" {
		t = "dev"
	}
	if len(t) > 128 {
		t = t[:128]
	}
	return t
}

// PushTags are the tags image target gets on push: the plan's tags for
// production; for debug and lambda each gets that suffix ("v1.2.0-debug"),
// so pushing them to the production repository never moves its tags.
func (p *Plan) PushTags(target string) []string {
	if target == "production" {
		return p.Push.Tags
	}
	out := make([]string, len(p.Push.Tags))
	for i, t := range p.Push.Tags {
		out[i] = TagFor(t + "-" + target)
	}
	return out
}
