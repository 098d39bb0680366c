//go:build ignore

// Zero-install Mage: `go run mage.go <target>` works without mage installed.
package main

import (
	"os"

	"github.com/magefile/mage/mage"
)

func main() { os.Exit(mage.Main()) }
