package pipeline

import (
	"reflect"
	"strings"
	"testing"
)

func TestTagFor(t *testing.T) {
	for _, tc := range []struct{ version, want string }{
		{"v1.0.0+meta", "v1.0.0-meta"},
		{"v1.0.0+build.7", "v1.0.0-build.7"},
		{"v1.2.3", "v1.2.3"},
		{"v1.2.3-rc.1", "v1.2.3-rc.1"},
		{"v1.2.3-4-g0123456-dirty", "v1.2.3-4-g0123456-dirty"},
		{"0123456", "0123456"},
		{"feature/new-tool", "feature-new-tool"},
		{"release 2", "release-2"},
		{"v1:2@3", "v1-2-3"},
		{"héllo", "h-llo"},
		{".hidden", "hidden"},
		{"-x", "x"},
		{"+meta", "meta"},
		{"_ok", "_ok"},
		{"", "dev"},
		{"+++", "dev"},
		{strings.Repeat("a", 200), strings.Repeat("a", 128)},
	} {
		got := TagFor(tc.version)
		if got != tc.want {
			t.Errorf("TagFor(%q) = %q, want %q", tc.version, got, tc.want)
		}
		if !validTag.MatchString(got) {
			t.Errorf("TagFor(%q) = %q is not a valid tag", tc.version, got)
		}
	}
}

func TestPushPlan(t *testing.T) {
	commit := "0123456789abcdef0123456789abcdef01234567"
	for _, tc := range []struct {
		name  string
		agent Agent
		want  Push
	}{
		{"version and short commit",
			Agent{Repository: "ghcr.io/acme/agent", Version: "v1.2.3", Commit: commit},
			Push{"ghcr.io/acme/agent", []string{"v1.2.3", "0123456"}}},
		{"latest and extra tags, no duplicates",
			Agent{Repository: "ghcr.io/acme/agent", Version: "v1.2.3", Commit: commit, TagLatest: true,
				ImageTags: []string{"stable", "latest", "v1.2.3", "stable"}},
			Push{"ghcr.io/acme/agent", []string{"v1.2.3", "0123456", "latest", "stable"}}},
		{"no git: no commit tag",
			Agent{Repository: "ghcr.io/acme/agent", Version: "dev", Commit: "unknown"},
			Push{"ghcr.io/acme/agent", []string{"dev"}}},
		{"short commit given: no commit tag",
			Agent{Repository: "ghcr.io/acme/agent", Version: "dev", Commit: "abc"},
			Push{"ghcr.io/acme/agent", []string{"dev"}}},
		{"version made a tag",
			Agent{Repository: "ghcr.io/acme/agent", Version: "v1.0.0+meta", Commit: commit},
			Push{"ghcr.io/acme/agent", []string{"v1.0.0-meta", "0123456"}}},
		{"registry with a port",
			Agent{Repository: "localhost:5000/agent", Version: "v1", Commit: "unknown"},
			Push{"localhost:5000/agent", []string{"v1"}}},
		{"Docker Hub short names are spelled out",
			Agent{Repository: "acme/agent", Version: "v1", Commit: "unknown"},
			Push{"index.docker.io/acme/agent", []string{"v1"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := pushPlan(tc.agent)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("pushPlan = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestPushPlanErrors(t *testing.T) {
	for _, tc := range []struct {
		agent     Agent
		what, fix string
	}{
		{Agent{Repository: "ghcr.io/Acme/agent", Version: "v1"}, `image repository "ghcr.io/Acme/agent" is not a valid reference`, "use registry/namespace/name"},
		{Agent{Repository: "ghcr.io/acme/agent:v1", Version: "v1"}, "is not a valid reference", "e.g. ghcr.io/acme/agent"},
		{Agent{Repository: "", Version: "v1"}, "is not a valid reference", "use registry/namespace/name"},
		{Agent{Repository: "ghcr.io/acme/agent", Version: "v1", ImageTags: []string{".hidden"}}, `image tag ".hidden" is not valid`, "not starting with '.' or '-'"},
		{Agent{Repository: "ghcr.io/acme/agent", Version: "v1", ImageTags: []string{"a+b"}}, `image tag "a+b" is not valid`, "letters, digits"},
		{Agent{Repository: "ghcr.io/acme/agent", Version: "v1", ImageTags: []string{strings.Repeat("t", 129)}}, "is not valid", "up to 128"},
		{Agent{Repository: "ghcr.io/acme/agent", Version: "v1", ImageTags: []string{""}}, `image tag "" is not valid`, "use up to 128"},
	} {
		_, err := pushPlan(tc.agent)
		if err == nil {
			t.Errorf("pushPlan(%+v): no error", tc.agent)
			continue
		}
		checkOneLine(t, err, tc.what, tc.fix)
	}
}

func TestPushTagsPerTarget(t *testing.T) {
	p := &Plan{Push: Push{Repository: "ghcr.io/acme/agent", Tags: []string{"v1.2.0", "0123456", "latest"}}}
	if got := strings.Join(p.PushTags("production"), ","); got != "v1.2.0,0123456,latest" {
		t.Errorf("production tags %s", got)
	}
	if got := strings.Join(p.PushTags("debug"), ","); got != "v1.2.0-debug,0123456-debug,latest-debug" {
		t.Errorf("debug tags %s", got)
	}
	if got := strings.Join(p.PushTags("lambda"), ","); got != "v1.2.0-lambda,0123456-lambda,latest-lambda" {
		t.Errorf("lambda tags %s", got)
	}
}
