package filters

import (
	"fmt"
	"log/slog"
	"sort"
	"sync"

	"google.golang.org/protobuf/types/known/anypb"

	"github.com/portico-gw/portico/internal/proxy/budget"
	"github.com/portico-gw/portico/internal/proxy/stats"
)

// Next continues the filter chain.
type Next func(s *Stream)

// Filter is one configured HTTP filter instance.
type Filter interface {
	// Serve handles the stream. Call next to continue; not calling it ends
	// the request (the filter must have written a response or a local reply).
	Serve(s *Stream, next Next)
}

// FilterFunc adapts a function to Filter.
type FilterFunc func(s *Stream, next Next)

// Serve calls f.
func (f FilterFunc) Serve(s *Stream, next Next) { f(s, next) }

// BuildContext is what a factory may use from the proxy.
type BuildContext struct {
	// Serving reports whether the proxy is serving (not draining); the
	// health_check filter answers from it.
	Serving func() bool
	// Upstreams returns the clusters being served now, for work a filter
	// does outside any request (the Wasm filter downloads its module
	// through a cluster of the config). Nil in tests that need none.
	Upstreams func() Upstreams
	// Logger is the proxy's log (nil: slog.Default()).
	Logger *slog.Logger
	// LuaLimits bound every call into a Lua script (zero: defaults).
	LuaLimits budget.Limits
	// Stats are the proxy's counters (nil in tests that need none: a nil
	// store counts nothing).
	Stats *stats.Store
}

// Factory builds one kind of filter.
type Factory struct {
	// TypeURL of the listener-level typed_config.
	TypeURL string
	// PerRouteTypeURLs lists the typed_per_filter_config types this filter
	// understands besides envoy.config.route.v3.FilterConfig.
	PerRouteTypeURLs []string
	// Terminal marks the router: it must be the last filter.
	Terminal bool
	// New builds the filter from its listener-level config.
	New func(name string, cfg *anypb.Any, bc BuildContext) (Filter, error)
	// PerRoute parses a per-route config of one of PerRouteTypeURLs.
	PerRoute func(cfg *anypb.Any) (any, error)
}

var (
	mu         sync.RWMutex
	byType     = map[string]*Factory{}
	byPerRoute = map[string]*Factory{}
)

// Register adds a factory; it panics on duplicates because two files claiming
// one type URL is a programming error.
func Register(f *Factory) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := byType[f.TypeURL]; dup {
		panic("filters: duplicate registration of " + f.TypeURL)
	}
	byType[f.TypeURL] = f
	for _, t := range f.PerRouteTypeURLs {
		byPerRoute[t] = f
	}
}

// Lookup finds the factory for a typed_config type URL.
func Lookup(typeURL string) (*Factory, bool) {
	mu.RLock()
	defer mu.RUnlock()
	f, ok := byType[typeURL]
	return f, ok
}

// LookupPerRoute finds the factory that parses a per-route config type.
func LookupPerRoute(typeURL string) (*Factory, bool) {
	mu.RLock()
	defer mu.RUnlock()
	f, ok := byPerRoute[typeURL]
	return f, ok
}

// Known lists the registered type URLs (for error messages).
func Known() []string {
	mu.RLock()
	defer mu.RUnlock()
	out := make([]string, 0, len(byType))
	for k := range byType {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TypeURL returns the type URL of a proto message name.
func TypeURL(fullName string) string { return "type.googleapis.com/" + fullName }

// errf formats a config error.
func errf(format string, a ...any) error { return fmt.Errorf(format, a...) }
