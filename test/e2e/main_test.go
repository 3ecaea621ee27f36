package e2e

import (
	"os"
	"testing"

	"github.com/portico-gw/portico/internal/cli"
)

// TestMain lets this test binary be the `portico proxy` children the
// runner starts from its own executable (host.Builtin, the default).
func TestMain(m *testing.M) {
	cli.RunChildProxy()
	os.Exit(m.Run())
}
