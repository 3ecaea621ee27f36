// Package translator turns the IR into Envoy xDS resources.
//
// Translate is a pure function: the same ir.Xds always gives byte-identical
// resources (insertion order follows the IR, which is what Envoy Gateway
// does too, and names are de-duplicated). Problems with one IR object
// (a route that cannot be expressed, a listener without certificates, ...)
// are collected as *ObjectError values; everything else still translates.
//
// HTTP filters live in a registry (filter.go): each filter is one file that
// registers an HTTPFilter at init time with its Envoy name, its default rank
// and two functions, one adding its HCM filters for a listener and one adding
// per-route configuration. Adding a filter touches no switch statement.
package translator
