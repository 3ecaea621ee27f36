// Package streaminfo is what the built-in proxy knows about one stream
// (one downstream request and its response), Envoy's StreamInfo: the HCM
// and the router write it as the stream goes, and filters, local reply
// mappers and the access log read it. It is a plain struct that the HCM
// embeds in its per-request allocation, so keeping it costs nothing.
package streaminfo

import (
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// StreamInfo describes one stream. The HCM owns it; readers other than
// the stream's own goroutine (none today) would need to copy it first.
type StreamInfo struct {
	// Request is the downstream request. Its header map is the one the
	// router finalizes (route header additions, x-envoy-* headers), as
	// Envoy's router does, so access logs see what went upstream.
	Request *http.Request
	// Start is when the HCM began the stream.
	Start time.Time
	// ResponseCode is the status sent downstream, or the status of the
	// local reply being sent (mappers read it before it goes out).
	ResponseCode int
	// BytesSent counts response body bytes sent downstream.
	BytesSent int64
	// BytesReceived counts request body bytes read. The upstream body
	// writer may read the body on its own goroutine, hence the atomic.
	BytesReceived atomic.Int64
	// ResponseFlags are Envoy's short flags ("NR", "UF", "UH,URX", ...).
	ResponseFlags string
	// ResponseCodeDetails is Envoy's response code details
	// ("via_upstream", "route_not_found", a filter's own).
	ResponseCodeDetails string
	// UpstreamCluster and UpstreamHost are where the router sent it.
	UpstreamCluster string
	UpstreamHost    string
	// RouteName is the selected route's name ("" when none matched).
	RouteName string
	// OriginalPath is the path before a prefix or regex rewrite ("" when
	// none applied): %REQ(X-ENVOY-ORIGINAL-PATH)% reads it.
	OriginalPath string
	// ResponseHeader is the downstream response's header map.
	ResponseHeader http.Header
	// Connection describes a proxied connection (tcp_proxy, udp_proxy
	// sessions): Request is nil then, and the formatters read the
	// addresses and server name from here.
	Connection *Connection
}

// Connection is what the access log knows of a connection without an
// HTTP request.
type Connection struct {
	RemoteAddr, LocalAddr string
	// ServerName is the SNI the TLS inspector read ("" when none).
	ServerName string
}

// Hostname is %HOSTNAME%: this host's name.
var Hostname, _ = os.Hostname()

// RequestHeader reads a request header as Envoy's formatters do:
// pseudo-headers (:authority, :path, :method) come from the request line,
// repeated headers are joined with commas. ok is false when it is absent.
func RequestHeader(r *http.Request, name string) (string, bool) {
	switch PseudoName(name) {
	case ":authority", "host":
		return r.Host, r.Host != ""
	case ":path":
		return r.URL.RequestURI(), true
	case ":method":
		return r.Method, true
	}
	v := r.Header.Values(name)
	if len(v) == 0 {
		return "", false
	}
	return strings.Join(v, ","), true
}

// pseudoNames are the names RequestHeader answers from the request line.
var pseudoNames = [...]string{":authority", "host", ":path", ":method"}

// PseudoName is the pseudoNames entry strings.ToLower(name) equals, or ""
// (or the lowercased name, for non-ASCII names). The access log asks for
// ":PATH", ":METHOD" and ":AUTHORITY" on every request; lowercasing them
// allocated each time.
func PseudoName(name string) string {
	for i := 0; i < len(name); i++ {
		if name[i] >= utf8.RuneSelf {
			return strings.ToLower(name)
		}
	}
	for _, p := range pseudoNames {
		if asciiEqualFold(name, p) {
			return p
		}
	}
	return ""
}

// asciiEqualFold reports whether ASCII s lowercases to lower.
func asciiEqualFold(s, lower string) bool {
	if len(s) != len(lower) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}
