package lambdazip

import (
	"path/filepath"
	"testing"

	"github.com/aixgo-dev/agentship/pipeline"
)

func deployPlan(arch string) *pipeline.Plan {
	return &pipeline.Plan{
		Name: "my.agent",
		Dir:  "/src/agent",
		Lambda: pipeline.Lambda{
			Arch:  arch,
			Image: pipeline.Image{Tag: "my.agent:v1.0.0-lambda"},
		},
		Dist: pipeline.Dist{LambdaZip: "dist/my.agent-lambda-" + arch + ".zip"},
	}
}

func TestDeployCommands(t *testing.T) {
	for _, tc := range []struct {
		arch, path, create, update string
	}{
		{
			"amd64", "/src/agent/dist/my.agent-lambda-amd64.zip",
			"aws lambda create-function --function-name my-agent --runtime provided.al2023 --handler bootstrap --architectures x86_64 --zip-file fileb://dist/my.agent-lambda-amd64.zip --role <role-arn>",
			"aws lambda update-function-code --function-name my-agent --zip-file fileb://dist/my.agent-lambda-amd64.zip",
		},
		{
			"arm64", "/elsewhere/my zip.zip",
			"aws lambda create-function --function-name my-agent --runtime provided.al2023 --handler bootstrap --architectures arm64 --zip-file 'fileb:///elsewhere/my zip.zip' --role <role-arn>",
			"aws lambda update-function-code --function-name my-agent --zip-file 'fileb:///elsewhere/my zip.zip'",
		},
	} {
		got := DeployCommands(deployPlan(tc.arch), Info{Path: filepath.FromSlash(tc.path)})
		if got.Create != tc.create {
			t.Errorf("%s create:\n got %s\nwant %s", tc.arch, got.Create, tc.create)
		}
		if got.Update != tc.update {
			t.Errorf("%s update:\n got %s\nwant %s", tc.arch, got.Update, tc.update)
		}
	}
}

func TestImageDeployCommands(t *testing.T) {
	got := ImageDeployCommands(deployPlan("arm64"), "123456789012.dkr.ecr.eu-west-1.amazonaws.com/my-agent:v1.0.0-lambda")
	want := Commands{
		Create: "aws lambda create-function --function-name my-agent --package-type Image --code ImageUri=123456789012.dkr.ecr.eu-west-1.amazonaws.com/my-agent:v1.0.0-lambda --architectures arm64 --role <role-arn>",
		Update: "aws lambda update-function-code --function-name my-agent --image-uri 123456789012.dkr.ecr.eu-west-1.amazonaws.com/my-agent:v1.0.0-lambda",
	}
	if got != want {
		t.Fatalf("\n got %+v\nwant %+v", got, want)
	}
	ph := ImageDeployCommands(deployPlan("amd64"), "")
	if want := "aws lambda update-function-code --function-name my-agent --image-uri '<account>.dkr.ecr.<region>.amazonaws.com/my.agent:v1.0.0-lambda'"; ph.Update != want {
		t.Fatalf("placeholder:\n got %s\nwant %s", ph.Update, want)
	}
}

func TestArchitectureOf(t *testing.T) {
	for goarch, want := range map[string]string{"amd64": "x86_64", "arm64": "arm64"} {
		if got, err := ArchitectureOf(goarch); err != nil || got != want {
			t.Errorf("ArchitectureOf(%s) = %s, %v; want %s", goarch, got, err, want)
		}
	}
	if _, err := ArchitectureOf("x86_64"); err == nil {
		t.Error("x86_64 is Lambda's name, not a GOARCH: want an error")
	}
}
