package main

import (
	"os"
	"testing"

	"github.com/portico-gw/portico/internal/cli"
)

// TestMain lets this test binary be the `portico proxy` children that
// `portico run` starts from its own executable.
func TestMain(m *testing.M) {
	cli.RunChildProxy()
	os.Exit(m.Run())
}
