package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"mvdan.cc/sh/v3/interp"
)

// commands are run in process when no executable of that name is on PATH:
// an image built on this toolbox has no other programs.
var commands = map[string]func(hc interp.HandlerContext, args []string) error{
	"cat": cat,
	"env": env,
	"id":  id,
	"ls":  ls,
	"ps":  ps,
}

func builtins(next interp.ExecHandlerFunc) interp.ExecHandlerFunc {
	return func(ctx context.Context, args []string) error {
		cmd, ok := commands[args[0]]
		if !ok {
			return next(ctx, args)
		}
		hc := interp.HandlerCtx(ctx)
		if err := cmd(hc, args[1:]); err != nil {
			fmt.Fprintf(hc.Stderr, "%s: %v\n", args[0], err)
			return interp.NewExitStatus(1)
		}
		return nil
	}
}

func abs(hc interp.HandlerContext, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(hc.Dir, p)
}

func cat(hc interp.HandlerContext, args []string) error {
	if len(args) == 0 {
		_, err := io.Copy(hc.Stdout, hc.Stdin)
		return err
	}
	for _, a := range args {
		f, err := os.Open(abs(hc, a))
		if err != nil {
			return err
		}
		_, err = io.Copy(hc.Stdout, f)
		f.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

func env(hc interp.HandlerContext, _ []string) error {
	var lines []string
	for name, vr := range hc.Env.Each {
		if vr.Exported {
			lines = append(lines, name+"="+vr.String())
		}
	}
	sort.Strings(lines)
	_, err := fmt.Fprintln(hc.Stdout, strings.Join(lines, "\n"))
	return err
}

func id(hc interp.HandlerContext, _ []string) error {
	_, err := fmt.Fprintf(hc.Stdout, "uid=%d gid=%d\n", os.Getuid(), os.Getgid())
	return err
}

// ls lists names, or with -l modes, sizes and owners.
func ls(hc interp.HandlerContext, args []string) error {
	long := false
	var paths []string
	for _, a := range args {
		switch {
		case strings.HasPrefix(a, "-"):
			long = long || strings.Contains(a, "l")
		default:
			paths = append(paths, a)
		}
	}
	if len(paths) == 0 {
		paths = []string{"."}
	}
	w := bufio.NewWriter(hc.Stdout)
	defer w.Flush()
	for _, p := range paths {
		st, err := os.Lstat(abs(hc, p))
		if err != nil {
			return err
		}
		entries := []os.FileInfo{st}
		if st.IsDir() {
			des, err := os.ReadDir(abs(hc, p))
			if err != nil {
				return err
			}
			entries = entries[:0]
			for _, de := range des {
				if info, err := de.Info(); err == nil {
					entries = append(entries, info)
				}
			}
			if len(paths) > 1 {
				fmt.Fprintf(w, "%s:\n", p)
			}
		}
		for _, e := range entries {
			if long {
				uid, gid := owner(e)
				fmt.Fprintf(w, "%s %5d %5d %10d %s %s\n", e.Mode(), uid, gid, e.Size(), e.ModTime().UTC().Format(time.DateTime), e.Name())
			} else {
				fmt.Fprintln(w, e.Name())
			}
		}
	}
	return nil
}

// ps lists processes from /proc: pid and command line.
func ps(hc interp.HandlerContext, _ []string) error {
	des, err := os.ReadDir("/proc")
	if err != nil {
		return err
	}
	fmt.Fprintln(hc.Stdout, "  PID COMMAND")
	for _, de := range des {
		pid, err := strconv.Atoi(de.Name())
		if err != nil {
			continue
		}
		b, _ := os.ReadFile(filepath.Join("/proc", de.Name(), "cmdline"))
		fmt.Fprintf(hc.Stdout, "%5d %s\n", pid, strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " ")))
	}
	return nil
}
