package runner

import (
	"context"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/portico-gw/portico/internal/gatewayapi"
	"github.com/portico-gw/portico/internal/pipeline"
	"github.com/portico-gw/portico/internal/provider"
	"github.com/portico-gw/portico/internal/status"
)

// Provider is where the runner's input comes from: the file provider, or
// the Kubernetes provider. Load is the first load; Run calls fn with every
// later one until ctx ends.
type Provider interface {
	Load() provider.Update
	Run(ctx context.Context, fn func(provider.Update)) error
}

// Hooks let a cluster runtime (cmd/portico server) take the runner's
// results without the runner knowing about clusters. Every hook is called
// on the loop goroutine and must not block.
type Hooks struct {
	// Translated receives every applied translation (the Kubernetes
	// infrastructure renders the proxies' objects from it). The result is
	// shared: read it, never change it.
	Translated func(*pipeline.Result)
	// Overlay adjusts the statuses about to be published: the Gateways of
	// res are copies it may change (with the fleet each belongs to, "" when
	// it has none); any other object it changes it must copy first.
	Overlay func(res *gatewayapi.Result, fleetOf func(*gwapiv1.Gateway) string)
	// Published receives every publication's objects with their statuses
	// (the Kubernetes status writer).
	Published func([]status.Object)
	// Republish, when it receives, publishes again (what Overlay reads
	// changed).
	Republish <-chan struct{}
}
