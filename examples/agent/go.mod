module github.com/aixgo-dev/agentship/examples/agent

go 1.26.0

require (
	github.com/aixgo-dev/agentship v0.0.0
	gopkg.in/yaml.v3 v3.0.1
)

require github.com/magefile/mage v1.17.2 // indirect

// mage.go carries the "ignore" build tag, so no file go mod tidy reads
// imports mage; the tool directive keeps it required (and adds `go tool mage`).
tool github.com/magefile/mage

replace github.com/aixgo-dev/agentship => ../..
