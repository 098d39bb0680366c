module github.com/aixgo-dev/agentship/examples/lambda-agent

go 1.26.1

require (
	github.com/aixgo-dev/agentship v0.0.0
	github.com/aws/aws-lambda-go v1.55.1
)

require (
	github.com/docker/cli v29.7.2+incompatible // indirect
	github.com/docker/docker-credential-helpers v0.9.3 // indirect
	github.com/google/go-containerregistry v0.22.1 // indirect
	github.com/klauspost/compress v1.19.2 // indirect
	github.com/magefile/mage v1.17.2 // indirect
	github.com/opencontainers/go-digest v1.0.0 // indirect
	github.com/opencontainers/image-spec v1.1.1 // indirect
	github.com/sirupsen/logrus v1.10.2 // indirect
	golang.org/x/mod v0.43.0 // indirect
	golang.org/x/sync v0.22.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
	gotest.tools/v3 v3.5.2 // indirect
)

// mage.go carries the "ignore" build tag, so no file go mod tidy reads
// imports mage; the tool directive keeps it required (and adds `go tool mage`).
tool github.com/magefile/mage

replace github.com/aixgo-dev/agentship => ../..
