package main

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/cli"
)

// TestMain lets this test binary be the `portico proxy` children that
// `portico run` starts from its own executable.
func TestMain(m *testing.M) {
	cli.RunChildProxy()
	os.Exit(m.Run())
}

// The extension call deadline comes from the environment here, and only
// here: extension.New takes it as an option.
func TestExtensionCallTimeoutFromEnvironment(t *testing.T) {
	for v, want := range map[string]time.Duration{"": 0, "250ms": 250 * time.Millisecond, "2s": 2 * time.Second} {
		t.Setenv(extensionCallTimeoutEnv, v)
		if got, err := extensionCallTimeout(); err != nil || got != want {
			t.Errorf("%q: %v %v, want %v", v, got, err, want)
		}
	}
	for _, v := range []string{"nonsense", "-1s", "0s"} {
		t.Setenv(extensionCallTimeoutEnv, v)
		if _, err := extensionCallTimeout(); err == nil || !strings.Contains(err.Error(), extensionCallTimeoutEnv) {
			t.Errorf("%q accepted: %v", v, err)
		}
	}
}
