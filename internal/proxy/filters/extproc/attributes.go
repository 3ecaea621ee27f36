package extproc

import (
	"crypto/tls"
	"net"
	"net/http"
	"strconv"
	"strings"

	"google.golang.org/protobuf/types/known/structpb"

	"github.com/portico-gw/portico/internal/proxy/filters"
)

// attributesKey is where Envoy puts the attributes of a message.
const attributesKey = "envoy.filters.http.ext_proc"

// Attributes are Envoy's request attributes
// (https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/advanced/attributes)
// that the proxy knows at the time: those it does not know, or that have
// no value for the request, are left out, as Envoy leaves out the ones it
// fails to evaluate.
func attributes(names []string, s *filters.Stream, code int, respHeader http.Header) map[string]*structpb.Struct {
	if len(names) == 0 {
		return nil
	}
	fields := map[string]*structpb.Value{}
	for _, n := range names {
		if v := attribute(n, s, code, respHeader); v != nil {
			fields[n] = v
		}
	}
	return map[string]*structpb.Struct{attributesKey: {Fields: fields}}
}

func attribute(name string, s *filters.Stream, code int, respHeader http.Header) *structpb.Value {
	r := s.Request
	str := structpb.NewStringValue
	switch name {
	case "request.path":
		return str(r.URL.RequestURI())
	case "request.url_path":
		return str(r.URL.Path)
	case "request.host":
		return str(r.Host)
	case "request.scheme":
		if r.TLS != nil {
			return str("https")
		}
		return str("http")
	case "request.method":
		return str(r.Method)
	case "request.query":
		return str(r.URL.RawQuery)
	case "request.referer":
		return optional(r.Header.Get("Referer"))
	case "request.useragent":
		return optional(r.Header.Get("User-Agent"))
	case "request.id":
		return optional(r.Header.Get("X-Request-Id"))
	case "request.protocol":
		return str(r.Proto)
	case "request.headers":
		return headerValue(r.Header)
	case "request.size":
		if r.ContentLength >= 0 {
			return structpb.NewNumberValue(float64(r.ContentLength))
		}
	case "response.code":
		if code > 0 {
			return structpb.NewNumberValue(float64(code))
		}
	case "response.headers":
		if respHeader != nil {
			return headerValue(respHeader)
		}
	case "xds.route_name":
		return optional(s.RouteName)
	case "connection.requested_server_name":
		if r.TLS != nil {
			return str(r.TLS.ServerName)
		}
	case "connection.tls_version":
		if r.TLS != nil {
			return str(tls.VersionName(r.TLS.Version))
		}
	case "connection.mtls":
		return structpb.NewBoolValue(r.TLS != nil && len(r.TLS.PeerCertificates) > 0)
	}
	return addressAttribute(name, r)
}

func addressAttribute(name string, r *http.Request) *structpb.Value {
	var addr string
	switch {
	case strings.HasPrefix(name, "source."):
		addr = r.RemoteAddr
	case strings.HasPrefix(name, "destination."):
		if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
			addr = a.String()
		}
	default:
		return nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil
	}
	switch name[strings.IndexByte(name, '.')+1:] {
	case "address":
		return structpb.NewStringValue(addr)
	case "port":
		p, _ := strconv.Atoi(port)
		return structpb.NewNumberValue(float64(p))
	case "ip":
		return structpb.NewStringValue(host)
	}
	return nil
}

func optional(v string) *structpb.Value {
	if v == "" {
		return nil
	}
	return structpb.NewStringValue(v)
}

// headerValue is a header map as Envoy's attribute: lower-case names,
// repeated values joined with ",".
func headerValue(h http.Header) *structpb.Value {
	fields := map[string]*structpb.Value{}
	for k, vs := range h {
		if len(vs) == 0 || strings.HasPrefix(k, http.TrailerPrefix) {
			continue
		}
		fields[strings.ToLower(k)] = structpb.NewStringValue(strings.Join(vs, ","))
	}
	return structpb.NewStructValue(&structpb.Struct{Fields: fields})
}
