//go:build tools

// Package tools pins the code generators Portico runs from hack/gen.sh.
// It lives in its own module so that controller-tools and its dependencies
// never enter the main module's go.mod.
package tools

import (
	_ "sigs.k8s.io/controller-tools/cmd/controller-gen"
)
