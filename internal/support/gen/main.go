// Command gen writes docs/support-matrix.md from the support ledger. Run it
// from the repository root after changing internal/support/ledger.go:
//
//	go run ./internal/support/gen
package main

import (
	"fmt"
	"os"

	"github.com/portico-gw/portico/internal/support"
)

func main() {
	out := "docs/support-matrix.md"
	if len(os.Args) > 1 {
		out = os.Args[1]
	}
	if err := os.WriteFile(out, []byte(support.Matrix()), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
