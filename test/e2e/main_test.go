package e2e

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/portico-gw/portico/internal/cli"
)

// TestMain lets this test binary be the `portico proxy` children the
// runner starts from its own executable (host.Builtin, the default).
func TestMain(m *testing.M) {
	cli.RunChildProxy()
	code := m.Run()
	// The portico binary buildPortico made (112 MB a run) goes with the run.
	if porticoBin.path != "" {
		os.RemoveAll(filepath.Dir(porticoBin.path))
	}
	os.Exit(code)
}
