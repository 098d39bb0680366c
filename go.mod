module github.com/aixgo-dev/agentship

go 1.26
