// Package crd embeds the CustomResourceDefinitions Portico validates its input against.
//
// The files live next to this package (go:embed cannot reach outside the package
// directory): gateway-api/ holds the Gateway API experimental-channel CRDs, portico/ the
// Envoy Gateway-compatible CRDs generated from api/v1alpha1. The pattern matches whichever
// of the two folders exist, so the build does not depend on the generated folder.
package crd

import "embed"

// FS holds every CRD YAML under config/crd, as "<folder>/<file>.yaml".
//
//go:embed */*.yaml
var FS embed.FS
