// Package grpcstats is Envoy's envoy.filters.http.grpc_stats for the
// built-in proxy. For each gRPC request (a gRPC Content-Type, which
// gRPC-Web requests have once grpc_web has run) that reaches a cluster it
// counts, in the proxy's stats and under Envoy's names:
//
//	cluster.<cluster>.grpc.<service>.<method>.total
//	cluster.<cluster>.grpc.<service>.<method>.success  (grpc-status 0)
//	cluster.<cluster>.grpc.<service>.<method>.failure  (any other grpc-status)
//	cluster.<cluster>.grpc.<service>.<method>.request_message_count
//	cluster.<cluster>.grpc.<service>.<method>.response_message_count
//
// with <service>.<method> left out for methods that are not counted one
// by one (stats_for_all_methods false and not in the allowlist, or a path
// that is not /<service>/<method>). As in Envoy, a response without any
// grpc-status counts messages only. With emit_filter_state, the message
// counts are also left in the stream's metadata under the filter's name
// (Envoy's filter state object), for the filters and logs after it.
package grpcstats

import (
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"

	grpcstatsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/grpc_stats/v3"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/portico-gw/portico/internal/proxy/filters"
	"github.com/portico-gw/portico/internal/proxy/stats"
)

// FilterState is what emit_filter_state leaves in the stream's metadata
// (Envoy's GrpcStatsObject).
type FilterState struct {
	RequestMessageCount  uint64
	ResponseMessageCount uint64
}

type config struct {
	name       string
	store      *stats.Store
	allMethods bool
	allowed    map[string]bool // "<service>/<method>"
	emitState  bool
}

func init() {
	filters.Register(&filters.Factory{
		TypeURL: filters.TypeURL("envoy.extensions.filters.http.grpc_stats.v3.FilterConfig"),
		New: func(name string, cfg *anypb.Any, bc filters.BuildContext) (filters.Filter, error) {
			var fc grpcstatsv3.FilterConfig
			if err := cfg.UnmarshalTo(&fc); err != nil {
				return nil, fmt.Errorf("grpc_stats %q: %v", name, err)
			}
			if fc.GetEnableUpstreamStats() {
				return nil, fmt.Errorf("grpc_stats %q: enable_upstream_stats is not supported", name)
			}
			if fc.GetReplaceDotsInGrpcServiceName() {
				return nil, fmt.Errorf("grpc_stats %q: replace_dots_in_grpc_service_name is not supported", name)
			}
			c := &config{name: name, store: bc.Stats, allMethods: fc.GetStatsForAllMethods().GetValue(), emitState: fc.GetEmitFilterState()}
			if l := fc.GetIndividualMethodStatsAllowlist(); l != nil {
				c.allowed = map[string]bool{}
				for _, svc := range l.GetServices() {
					for _, m := range svc.GetMethodNames() {
						c.allowed[svc.GetName()+"/"+m] = true
					}
				}
			}
			return filters.FilterFunc(c.serve), nil
		},
	})
}

func (c *config) serve(s *filters.Stream, next filters.Next) {
	if !filters.IsGRPCContentType(s.Request.Header.Get("Content-Type")) {
		next(s)
		return
	}
	var reqFrames, respFrames frameCounter
	if b := s.Request.Body; b != nil && b != http.NoBody {
		r := *s.Request
		r.Body = &countingBody{ReadCloser: b, frames: &reqFrames}
		s.Request = &r
	}
	w := &countingWriter{ResponseWriter: s.Writer, frames: &respFrames}
	s.Writer = w
	next(s)
	if c.emitState {
		if s.Metadata == nil {
			s.Metadata = map[string]any{}
		}
		s.Metadata[c.name] = &FilterState{RequestMessageCount: reqFrames.count.Load(), ResponseMessageCount: respFrames.count.Load()}
	}
	cluster := ""
	if s.Info != nil {
		cluster = s.Info.UpstreamCluster
	}
	if cluster == "" {
		return // no cluster was chosen (no route, a direct response)
	}
	prefix := "cluster." + cluster + ".grpc." + c.methodStatName(s.Request.URL.Path)
	c.store.Add(prefix+"request_message_count", reqFrames.count.Load())
	c.store.Add(prefix+"response_message_count", respFrames.count.Load())
	st, ok := grpcStatus(w.Header())
	if !ok {
		return
	}
	c.store.Inc(prefix + "total")
	if st == "0" {
		c.store.Inc(prefix + "success")
	} else {
		c.store.Inc(prefix + "failure")
	}
}

// methodStatName is "<service>.<method>." for a method counted one by
// one, else "".
func (c *config) methodStatName(path string) string {
	svc, method, ok := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	if !ok || !strings.HasPrefix(path, "/") || svc == "" || method == "" || strings.Contains(method, "/") {
		return ""
	}
	if !c.allMethods && !c.allowed[svc+"/"+method] {
		return ""
	}
	return svc + "." + method + "."
}

// grpcStatus is the response's grpc-status: from its trailers, which the
// router leaves in the header map under http.TrailerPrefix, or from its
// headers for a trailers-only answer.
func grpcStatus(h http.Header) (string, bool) {
	if v := h.Get(http.TrailerPrefix + "Grpc-Status"); v != "" {
		return v, true
	}
	if vs := h[http.TrailerPrefix+"grpc-status"]; len(vs) > 0 {
		return vs[0], true
	}
	if v := h.Get("Grpc-Status"); v != "" {
		return v, true
	}
	return "", false
}

// frameCounter counts the gRPC frames of a byte stream: 5-byte headers
// (flag, big-endian length) each followed by its message.
type frameCounter struct {
	count  atomic.Uint64
	header [5]byte
	have   int    // header bytes seen of the current frame
	skip   uint64 // message bytes left of the current frame
}

func (f *frameCounter) feed(b []byte) {
	for len(b) > 0 {
		if f.skip > 0 {
			n := min(uint64(len(b)), f.skip)
			f.skip -= n
			b = b[n:]
			continue
		}
		n := copy(f.header[f.have:], b)
		f.have += n
		b = b[n:]
		if f.have == len(f.header) {
			f.count.Add(1)
			f.skip = uint64(binary.BigEndian.Uint32(f.header[1:]))
			f.have = 0
		}
	}
}

type countingBody struct {
	io.ReadCloser
	frames *frameCounter
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.frames.feed(p[:n])
	return n, err
}

type countingWriter struct {
	http.ResponseWriter
	frames *frameCounter
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.frames.feed(p)
	return w.ResponseWriter.Write(p)
}

func (w *countingWriter) Flush() { _ = http.NewResponseController(w.ResponseWriter).Flush() }

func (w *countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
