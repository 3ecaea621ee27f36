//go:build !unix

package host

import "os"

// Without SIGTERM, stopping Envoy means killing it.
var sigterm = os.Kill
