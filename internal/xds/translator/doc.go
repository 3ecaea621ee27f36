// Package translator turns the IR into Envoy xDS resources.
package translator
