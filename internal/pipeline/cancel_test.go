package pipeline

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/xds/xdstypes"
)

// blockingHooks is an extension server that never answers the
// Translation hook: only the caller's context ends its calls.
type blockingHooks struct{ started chan struct{} }

func (blockingHooks) Enabled(h xdstypes.Hook) bool                                { return h == xdstypes.HookTranslation }
func (blockingHooks) PostRoutes(context.Context, []*xdstypes.RouteCall) error     { return nil }
func (blockingHooks) PostClusters(context.Context, []*xdstypes.ClusterCall) error { return nil }
func (blockingHooks) PostVirtualHosts(context.Context, []*xdstypes.VirtualHostCall) error {
	return nil
}
func (blockingHooks) PostHTTPListeners(context.Context, []*xdstypes.ListenerCall) error { return nil }
func (blockingHooks) PostEndpoints(context.Context, []*xdstypes.EndpointsCall) error    { return nil }
func (b blockingHooks) PostTranslate(ctx context.Context, _ *xdstypes.TranslateCall) error {
	close(b.started)
	<-ctx.Done()
	return ctx.Err()
}

// Stopping the caller (the runner) cancels the extension calls in flight:
// Run returns, and the fleet fails as a failed hook makes it.
func TestRunStopsExtensionCallsWithItsContext(t *testing.T) {
	h := blockingHooks{started: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan *Result, 1)
	go func() { done <- Run(ctx, load(t), config(true), Options{Extensions: h}) }()
	select {
	case <-h.started:
	case <-time.After(10 * time.Second):
		t.Fatal("the Translation hook was never called")
	}
	cancel()
	select {
	case r := <-done:
		f := r.Fleets[0]
		if f.Resources != nil || !strings.Contains(f.ExtensionError, "context canceled") {
			t.Errorf("fleet after cancellation: resources %v, error %q", f.Resources != nil, f.ExtensionError)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return when its context ended")
	}
}
