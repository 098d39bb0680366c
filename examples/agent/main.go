// Command agent is an example HTTP agent shipped by agentship: a static
// binary that runs as the only file of a scratch image, so everything an
// operator needs (health check, self test, version) is a flag of the binary
// itself rather than a tool in the image.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
)

// Set at build time with -ldflags "-X main.Version=... -X main.GitCommit=...".
var (
	Version   = "dev"
	GitCommit = "unknown"
)

const defaultConfigPath = "/config/agents.yaml"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", defaultConfigPath, "path of the agents YAML file")
	healthCheck := fs.Bool("health-check", false, "probe http://127.0.0.1:$PORT/healthz and exit 0 if it answers 200, else 1")
	selftest := fs.Bool("selftest", false, "report CA certificates and zoneinfo found in this filesystem, exit 1 without certificates")
	version := fs.Bool("version", false, "print version and commit, then exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "unexpected arguments: %q\n", fs.Args())
		return 2
	}

	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}

	switch {
	case *version:
		fmt.Fprintf(stdout, "version: %s\ncommit: %s\n", Version, GitCommit)
		return 0
	case *healthCheck:
		return runHealthCheck("http://"+net.JoinHostPort("127.0.0.1", port)+"/healthz", stdout, stderr)
	case *selftest:
		return runSelftest(stdout, *configPath)
	}

	logger := newLogger(stdout, os.Getenv("LOG_LEVEL"))
	logger.Info("starting", "version", Version, "commit", GitCommit)

	cfg, err := LoadConfig(*configPath)
	switch {
	case errors.Is(err, os.ErrNotExist):
		// An image built without a config directory still serves /healthz;
		// /v1/chat answers 503 until agents are configured.
		logger.Warn("config not found", "path", *configPath, "error", err.Error())
	case err != nil:
		logger.Error("config invalid", "path", *configPath, "error", err.Error())
		return 1
	default:
		logger.Info("config loaded", "path", *configPath, "agents", cfg.Names())
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	ln, err := net.Listen("tcp", ":"+port)
	if err != nil {
		logger.Error("listen failed", "port", port, "error", err.Error())
		return 1
	}
	srv := &server{log: logger, cfg: cfg, version: Version, commit: GitCommit}
	if err := serve(ctx, ln, srv.routes(), logger); err != nil {
		logger.Error("server failed", "error", err.Error())
		return 1
	}
	return 0
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var lvl slog.Level // Info unless LOG_LEVEL names another level
	if level != "" {
		_ = lvl.UnmarshalText([]byte(level))
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lvl}))
}
