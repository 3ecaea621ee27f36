package extauthz

import (
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/portico-gw/portico/internal/proxy/filters"
	"github.com/portico-gw/portico/internal/proxy/match"
)

var streamIDs atomic.Uint64

// checkRequest is the CheckRequest Envoy sends: the request's method,
// path, host, scheme, protocol and headers (lower-case names; with an
// allow-list only the allowed ones, otherwise every header and the
// pseudo-headers), the body when buffered, source and destination
// addresses, the route's context extensions and the metadata namespaces
// the config names.
func (f *Filter) checkRequest(s *filters.Stream, body []byte, ext map[string]string, now time.Time) *authv3.CheckRequest {
	r := s.Request
	h := &authv3.AttributeContext_HttpRequest{
		Id:       strconv.FormatUint(streamIDs.Add(1), 10),
		Method:   r.Method,
		Path:     r.URL.RequestURI(),
		Host:     r.Host,
		Scheme:   scheme(r),
		Protocol: protocol(r),
		Headers:  f.headersFor(r),
		Size:     int64(len(body)),
	}
	if body != nil {
		if f.packAsBytes {
			h.RawBody = body
		} else {
			h.Body = string(body)
		}
	}
	a := &authv3.AttributeContext{
		Source:            &authv3.AttributeContext_Peer{Address: socketAddress(r.RemoteAddr)},
		Request:           &authv3.AttributeContext_Request{Time: timestamppb.New(now), Http: h},
		ContextExtensions: ext,
	}
	if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		a.Destination = &authv3.AttributeContext_Peer{Address: socketAddress(la.String())}
	}
	if f.includeTLS && r.TLS != nil {
		a.TlsSession = &authv3.AttributeContext_TLSSession{Sni: r.TLS.ServerName}
	}
	if len(f.metadataNamespaces) > 0 {
		fm := map[string]*structpb.Struct{}
		for _, ns := range f.metadataNamespaces {
			if m := s.LookupDynamicMetadata(ns); m != nil {
				if st, err := structpb.NewStruct(jsonable(m)); err == nil {
					fm[ns] = st
				}
			}
		}
		if len(fm) > 0 {
			a.MetadataContext = &corev3.Metadata{FilterMetadata: fm}
		}
	}
	return &authv3.CheckRequest{Attributes: a}
}

func (f *Filter) headersFor(r *http.Request) map[string]string {
	out := map[string]string{}
	if f.allowed == nil {
		out[":authority"] = r.Host
		out[":method"] = r.Method
		out[":path"] = r.URL.RequestURI()
		out[":scheme"] = scheme(r)
	}
	for k, vs := range r.Header {
		name := strings.ToLower(k)
		if !f.headerAllowed(name) {
			continue
		}
		out[name] = strings.Join(vs, ",")
	}
	if f.allowed != nil {
		for _, name := range []string{":authority", ":method", ":path", ":scheme"} {
			if f.headerAllowed(name) {
				out[name], _ = match.HeaderValue(r, name)
			}
		}
	}
	return out
}

func (f *Filter) headerAllowed(name string) bool {
	for _, m := range f.disallowed {
		if m(name) {
			return false
		}
	}
	if f.allowed == nil {
		return true
	}
	for _, m := range f.allowed {
		if m(name) {
			return true
		}
	}
	return false
}

func scheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

func protocol(r *http.Request) string {
	switch {
	case r.ProtoMajor == 2:
		return "HTTP/2"
	case r.ProtoMinor == 0:
		return "HTTP/1.0"
	}
	return "HTTP/1.1"
}

func socketAddress(hostport string) *corev3.Address {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return nil
	}
	p, _ := strconv.Atoi(port)
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: host, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: uint32(p)}}}}
}

// jsonable converts metadata values to what structpb accepts (JWT
// payloads hold json.Number).
func jsonable(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = jsonValue(v)
	}
	return out
}

func jsonValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		return jsonable(x)
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = jsonValue(e)
		}
		return l
	case interface{ Float64() (float64, error) }:
		f, _ := x.Float64()
		return f
	}
	return v
}
