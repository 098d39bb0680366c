//go:build mage

// agentship's own targets: test, lint, bench, and building the examples.
package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/magefile/mage/sh"
)

// modules are the three Go modules of this repository.
var modules = []string{".", "examples/agent", "examples/lambda-agent"}

// Test runs go test in every module (set AGENTSHIP_E2E=1 to make a missing
// end-to-end tool fail instead of skip, as CI does).
func Test() error {
	for _, m := range modules {
		if err := sh.RunV("go", "-C", m, "test", "./..."); err != nil {
			return err
		}
	}
	return nil
}

// Lint checks gofmt and go vet in every module.
func Lint() error {
	out, err := sh.Output("gofmt", "-l", ".")
	if err != nil {
		return err
	}
	if out != "" {
		return fmt.Errorf("gofmt would change:\n%s", out)
	}
	for _, m := range modules {
		if err := sh.RunV("go", "-C", m, "vet", "./..."); err != nil {
			return err
		}
	}
	return nil
}

// Examples builds the example agent's images and the Lambda zip with the
// default engine.
func Examples() error {
	if err := sh.RunV("go", "-C", "examples/agent", "run", "mage.go", "build"); err != nil {
		return err
	}
	return sh.RunV("go", "-C", "examples/lambda-agent", "run", "mage.go", "lambda:zip")
}

// Bench measures the local engine side by side with a plain go build of the
// same package (no change, one-line change, cold) and prints the ratios.
func Bench() error {
	var out bytes.Buffer
	for _, run := range []struct{ pattern, times string }{
		{"NoChange|OneLineChange", "10x"},
		{"Cold", "2x"},
	} {
		cmd := exec.Command("go", "test", "./e2e", "-run", "^$", "-bench", run.pattern, "-benchtime", run.times, "-count", "1")
		cmd.Stdout = &out
		cmd.Stderr = os.Stderr
		fmt.Printf("go test ./e2e -bench '%s' -benchtime %s\n", run.pattern, run.times)
		if err := cmd.Run(); err != nil {
			os.Stdout.Write(out.Bytes())
			return err
		}
	}
	os.Stdout.Write(out.Bytes())
	fmt.Println()
	return printRatios(out.String())
}

var benchLine = regexp.MustCompile(`^Benchmark(\w+)/(go-build|agentship)-\d+\s+\d+\s+([\d.]+) ns/op`)

func printRatios(out string) error {
	ns := map[string]map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		v, _ := strconv.ParseFloat(m[3], 64)
		if ns[m[1]] == nil {
			ns[m[1]] = map[string]float64{}
		}
		ns[m[1]][m[2]] = v
	}
	names := make([]string, 0, len(ns))
	for n := range ns {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Printf("%-16s %12s %12s %8s\n", "case", "go build", "agentship", "ratio")
	for _, n := range names {
		g, a := ns[n]["go-build"], ns[n]["agentship"]
		if g == 0 || a == 0 {
			continue
		}
		fmt.Printf("%-16s %10.0fms %10.0fms %7.2fx\n", n, g/1e6, a/1e6, a/g)
	}
	return nil
}
