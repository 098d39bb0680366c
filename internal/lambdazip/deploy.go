package lambdazip

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/aixgo-dev/agentship/pipeline"
)

// Runtime is the Lambda runtime for a Go bootstrap. (go1.x was retired;
// provided.al2023 runs any executable named bootstrap.)
const Runtime = "provided.al2023"

// MaxDirectUpload is the largest zip `--zip-file fileb://` accepts; a larger
// one has to go through S3 (`--code S3Bucket=…,S3Key=…`).
const MaxDirectUpload = 50 << 20

// RolePlaceholder stands for the execution role in the printed commands:
// agentship cannot know it, and a placeholder cannot be run by mistake.
const RolePlaceholder = "<role-arn>"

// ArchitectureOf maps a GOARCH to Lambda's name for it.
func ArchitectureOf(goarch string) (string, error) {
	switch goarch {
	case "amd64":
		return "x86_64", nil
	case "arm64":
		return "arm64", nil
	}
	return "", fmt.Errorf("unknown Lambda architecture %q: use amd64 (x86_64) or arm64 (Graviton)", goarch)
}

// FunctionName is the plan's name as a Lambda function name, which allows
// letters, digits, '-' and '_' (up to 64): dots become dashes.
func FunctionName(p *pipeline.Plan) string {
	n := strings.ReplaceAll(p.Name, ".", "-")
	if len(n) > 64 {
		n = n[:64]
	}
	return n
}

// Commands are the two AWS CLI lines that deploy a package: Create for a
// new function, Update for an existing one.
type Commands struct {
	Create string `json:"create"`
	Update string `json:"update"`
}

// DeployCommands are the commands that deploy the zip described by info,
// for the summary. The zip path is relative to the agent repo when the zip
// is inside it, since that is where mage runs.
func DeployCommands(p *pipeline.Plan, info Info) Commands {
	arch, err := ArchitectureOf(p.Lambda.Arch)
	if err != nil {
		arch = p.Lambda.Arch
	}
	zipPath := info.Path
	if zipPath == "" {
		zipPath = p.Dist.LambdaZip
	} else if rel, err := filepath.Rel(p.Dir, zipPath); err == nil && filepath.IsAbs(zipPath) && !strings.HasPrefix(rel, "..") {
		zipPath = rel
	}
	zipArg := "fileb://" + filepath.ToSlash(zipPath)
	name := FunctionName(p)
	return Commands{
		Create: shellJoin("aws", "lambda", "create-function",
			"--function-name", name,
			"--runtime", Runtime,
			"--handler", "bootstrap",
			"--architectures", arch,
			"--zip-file", zipArg,
			"--role", RolePlaceholder),
		Update: shellJoin("aws", "lambda", "update-function-code",
			"--function-name", name,
			"--zip-file", zipArg),
	}
}

// ImageDeployCommands are the commands that deploy the Lambda image once it
// is in ECR at imageURI (Lambda runs images from ECR only). An empty
// imageURI gives a placeholder repository with the plan's tag.
func ImageDeployCommands(p *pipeline.Plan, imageURI string) Commands {
	arch, err := ArchitectureOf(p.Lambda.Arch)
	if err != nil {
		arch = p.Lambda.Arch
	}
	if imageURI == "" {
		_, tag, _ := strings.Cut(p.Lambda.Image.Tag, ":")
		imageURI = "<account>.dkr.ecr.<region>.amazonaws.com/" + p.Name + ":" + tag
	}
	name := FunctionName(p)
	return Commands{
		Create: shellJoin("aws", "lambda", "create-function",
			"--function-name", name,
			"--package-type", "Image",
			"--code", "ImageUri="+imageURI,
			"--architectures", arch,
			"--role", RolePlaceholder),
		Update: shellJoin("aws", "lambda", "update-function-code",
			"--function-name", name,
			"--image-uri", imageURI),
	}
}

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_./:=@%+,-]+$`)

// shellJoin quotes what a shell would split or expand; placeholders in
// angle brackets stay bare so they read as "fill this in".
func shellJoin(args ...string) string {
	out := make([]string, len(args))
	for i, a := range args {
		switch {
		case shellSafe.MatchString(a):
			out[i] = a
		case strings.HasPrefix(a, "<") && strings.HasSuffix(a, ">") && !strings.ContainsAny(a[1:len(a)-1], "<> '\""):
			out[i] = a
		default:
			out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(out, " ")
}
