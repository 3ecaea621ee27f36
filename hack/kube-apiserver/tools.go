//go:build tools

// Package tools pins the two programs hack/kube-apiserver.sh builds.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
)
