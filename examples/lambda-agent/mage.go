//go:build ignore

// Zero-install runner: `go run mage.go <target>` works without mage on PATH.
package main

import (
	"os"

	"github.com/magefile/mage/mage"
)

func main() { os.Exit(mage.Main()) }
