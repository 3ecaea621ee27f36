// Package provider holds what every provider (files, Kubernetes) hands the
// runner: one Update per load of the input.
package provider

import "github.com/portico-gw/portico/internal/resource"

// Update is the outcome of one load.
type Update struct {
	// Generation counts loads, from 1.
	Generation int
	// Set is what to serve: the new set, or the last good one when the load
	// was rejected. Nil only when no load ever succeeded.
	Set *resource.Set
	// Applied is true when Set is the result of this load (with the last
	// good version of the Held files).
	Applied bool
	// Held are edited files with problems whose last good version is
	// served instead of their current content (file provider).
	Held []string
	// Problems are the problems found by this load (rejected or not).
	Problems resource.Problems
	// Err says why the load, or the Held files, were not applied.
	Err error
}
