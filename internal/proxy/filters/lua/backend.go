package lua

import (
	"crypto/tls"
	"github.com/portico-gw/portico/internal/proxy/filters/envoylog"
	"net/http"
	"time"
)

// Backend is what a stream handle is bound to: a live request in the proxy,
// or a mock in the validator. One Backend serves one phase (request or
// response) of one stream.
type Backend interface {
	// Response reports the phase: false for envoy_on_request.
	Response() bool
	// Headers are the phase's headers, pseudo-headers included.
	Headers() Headers
	// Body buffers and returns the whole body (nil when there is none).
	Body() ([]byte, error)
	// SetBody replaces the buffered body.
	SetBody(b []byte)
	// Trailers are the phase's trailers; nil when there are none.
	Trailers() Headers
	// Respond answers the request directly (request phase only).
	Respond(status int, h http.Header, body string)
	// HTTPCall calls a cluster; async calls return at once and their result
	// is dropped.
	HTTPCall(cluster string, h http.Header, body string, timeout time.Duration, async bool) (int, http.Header, string, error)
	// Info is the stream's connection and route information.
	Info() *StreamInfo
	// DynamicMetadata is the stream's metadata, by namespace; it persists
	// from the request phase to the response phase.
	DynamicMetadata() map[string]map[string]any
	// ClearRouteCache re-selects the route after header changes.
	ClearRouteCache()
	// Log writes a script log line at an Envoy log level.
	Log(level LogLevel, msg string)
}

// Headers is a header map with Envoy's semantics: lower-case names,
// repeated names kept in order, pseudo-headers (":path") included.
type Headers interface {
	Get(name string) []string
	Add(name, value string)
	Set(name, value string)
	Remove(name string)
	// Each calls f for every entry in order.
	Each(f func(name, value string))
}

// StreamInfo is what streamInfo() and connection() report.
type StreamInfo struct {
	Protocol                string // "HTTP/1.1", "HTTP/2"
	DownstreamLocalAddress  string
	DownstreamRemoteAddress string
	DirectRemoteAddress     string
	RequestedServerName     string
	RouteName               string
	TLS                     *tls.ConnectionState
	// RouteMetadata is the route's filter_metadata for this filter
	// (metadata():get reads it).
	RouteMetadata map[string]any
	// FilterContext is LuaPerRoute.filter_context of the route.
	FilterContext map[string]any
}

// LogLevel is an Envoy log level.
type LogLevel = envoylog.Level

// Log levels in Envoy's order.
const (
	LogTrace    = envoylog.Trace
	LogDebug    = envoylog.Debug
	LogInfo     = envoylog.Info
	LogWarn     = envoylog.Warn
	LogError    = envoylog.Error
	LogCritical = envoylog.Critical
)
