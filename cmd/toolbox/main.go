// Command toolbox is the shell of the builtin Debug base
// (DebugBase: "builtin://toolbox"): a POSIX shell (mvdan.cc/sh's
// interpreter) with the few commands one needs to poke at an agent — ls,
// cat, env, id, ps — built in (the agent's own --health-check probes it). It is pure Go, so agentship
// cross-compiles it for every platform with no registry to pull a base
// from, and the Debug image stays a few megabytes.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"
	"mvdan.cc/sh/v3/expand"
	"mvdan.cc/sh/v3/interp"
	"mvdan.cc/sh/v3/syntax"
)

func main() {
	command := flag.String("c", "", "run `command` and exit")
	flag.Parse()
	code, err := run(*command, isSet("c"), flag.Args())
	if err != nil {
		fmt.Fprintln(os.Stderr, "sh:", err)
	}
	os.Exit(code)
}

func isSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func run(command string, commandSet bool, args []string) (int, error) {
	env := os.Environ()
	if os.Getenv("PATH") == "" {
		env = append(env, "PATH=/bin:/usr/bin")
	}
	r, err := interp.New(
		interp.Env(expand.ListEnviron(env...)),
		interp.StdIO(os.Stdin, os.Stdout, os.Stderr),
		interp.ExecHandlers(builtins),
		interp.Interactive(!commandSet && len(args) == 0 && term.IsTerminal(int(os.Stdin.Fd()))),
	)
	if err != nil {
		return 1, err
	}
	var src io.Reader
	name := ""
	switch {
	case commandSet:
		src = strings.NewReader(command)
	case len(args) > 0:
		f, err := os.Open(args[0])
		if err != nil {
			return 127, err
		}
		defer f.Close()
		src, name = f, args[0]
	case term.IsTerminal(int(os.Stdin.Fd())):
		return interactive(r)
	default:
		src = os.Stdin
	}
	prog, err := syntax.NewParser().Parse(src, name)
	if err != nil {
		return 2, err
	}
	return status(r.Run(context.Background(), prog))
}

// interactive reads statements one by one, with a prompt, until exit or EOF.
func interactive(r *interp.Runner) (int, error) {
	parser := syntax.NewParser()
	fmt.Fprint(os.Stderr, "$ ")
	var last error
	for stmts, err := range parser.InteractiveSeq(os.Stdin) {
		if err != nil {
			return 2, err
		}
		if parser.Incomplete() {
			fmt.Fprint(os.Stderr, "> ")
			continue
		}
		for _, stmt := range stmts {
			last = r.Run(context.Background(), stmt)
			if r.Exited() {
				return status(last)
			}
		}
		fmt.Fprint(os.Stderr, "$ ")
	}
	return status(last)
}

func status(err error) (int, error) {
	var es interp.ExitStatus
	if errors.As(err, &es) {
		return int(es), nil
	}
	if err != nil {
		return 1, err
	}
	return 0, nil
}
