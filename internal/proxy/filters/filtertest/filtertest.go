// Package filtertest runs one HTTP filter of the built-in proxy outside
// the proxy, for the filters' own tests: a request goes in, and the test
// sees whether the filter answered (and how) or passed the request on
// (and what it passed).
package filtertest

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/portico-gw/portico/internal/proxy/filters"
)

// Result is what one request through the filter came to.
type Result struct {
	// Passed reports that the filter called next; Forwarded is the request
	// as next saw it.
	Passed    bool
	Forwarded *http.Request
	// Code, Header and Body are the response (the filter's local reply,
	// or the 200 "upstream" answer next writes).
	Code    int
	Header  http.Header
	Body    string
	Details string
	// Metadata is the stream's metadata after the filter ran.
	Metadata map[string]any
	Stream   *filters.Stream
}

// Options are the request's route context.
type Options struct {
	// PerRoute is the route's parsed typed_per_filter_config by name.
	PerRoute  map[string]any
	Upstreams filters.Upstreams
	// Upstream, when set, answers for next instead of a bare 200.
	Upstream http.HandlerFunc
}

// Run sends r through f.
func Run(f filters.Filter, r *http.Request, o Options) *Result {
	return run(f, &filters.Stream{}, r, o)
}

func run(f filters.Filter, s *filters.Stream, r *http.Request, o Options) *Result {
	rec := httptest.NewRecorder()
	res := &Result{}
	s.Request, s.Writer, s.RouteName, s.Upstreams = r, rec, "route", o.Upstreams
	s.SetPerRoute(o.PerRoute)
	s.LocalReply = func(code int, body, details string) {
		res.Details = details
		if body != "" {
			s.Writer.Header().Set("Content-Type", "text/plain")
		}
		s.Writer.WriteHeader(code)
		_, _ = s.Writer.Write([]byte(body))
	}
	s.ClearRouteCache = func() {}
	f.Serve(s, func(s *filters.Stream) {
		res.Passed = true
		res.Forwarded = s.Request
		if o.Upstream != nil {
			o.Upstream(s.Writer, s.Request)
			return
		}
		s.Writer.WriteHeader(http.StatusOK)
	})
	res.Code, res.Header, res.Body = rec.Code, rec.Header(), rec.Body.String()
	res.Metadata, res.Stream = s.Metadata, s
	return res
}

// Clusters is a filters.Upstreams over test servers: cluster name to
// "http://host:port", "h2c://host:port" (plaintext HTTP/2, as a gRPC
// cluster) or "unix:///path" (plaintext HTTP/2 over a unix socket).
type Clusters map[string]string

// RoundTrip sends req to the cluster's address.
func (c Clusters) RoundTrip(cluster string, req *http.Request) (*http.Response, error) {
	addr, ok := c[cluster]
	if !ok {
		return nil, &net.OpError{Op: "dial", Err: errNoCluster(cluster)}
	}
	out := req.Clone(req.Context())
	out.URL.Scheme = "http"
	t := &http.Transport{DisableKeepAlives: true}
	switch {
	case strings.HasPrefix(addr, "h2c://"):
		out.URL.Host = strings.TrimPrefix(addr, "h2c://")
		t.Protocols = new(http.Protocols)
		t.Protocols.SetUnencryptedHTTP2(true)
	case strings.HasPrefix(addr, "unix://"):
		path := strings.TrimPrefix(addr, "unix://")
		t.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}
		t.Protocols = new(http.Protocols)
		t.Protocols.SetUnencryptedHTTP2(true)
		out.URL.Host = "localhost"
	default:
		out.URL.Host = strings.TrimPrefix(addr, "http://")
	}
	defer t.CloseIdleConnections()
	return t.RoundTrip(out)
}

// Dial connects to the cluster's address.
func (c Clusters) Dial(ctx context.Context, cluster string) (net.Conn, error) {
	addr, ok := c[cluster]
	if !ok {
		return nil, &net.OpError{Op: "dial", Err: errNoCluster(cluster)}
	}
	var d net.Dialer
	if p, ok := strings.CutPrefix(addr, "unix://"); ok {
		return d.DialContext(ctx, "unix", p)
	}
	_, hostport, _ := strings.Cut(addr, "://")
	return d.DialContext(ctx, "tcp", hostport)
}

type errNoCluster string

func (e errNoCluster) Error() string { return "cluster " + string(e) + " not found" }

// RunStream is Run on a stream the test prepared (its metadata, say).
func RunStream(f filters.Filter, s *filters.Stream, r *http.Request, o Options) *Result {
	return run(f, s, r, o)
}
