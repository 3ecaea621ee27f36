package hcm

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"

	"github.com/portico-gw/portico/internal/proxy/filters"
	"github.com/portico-gw/portico/internal/proxy/pathnorm"
	"github.com/portico-gw/portico/internal/proxy/route"
	"github.com/portico-gw/portico/internal/proxy/xdsconf"
)

// What the HCM does to a request's headers before routing, as Envoy's
// ConnectionManagerUtility::mutateRequestHeaders does for the settings
// Portico supports:
//
//   - x-envoy-internal is never taken from a client; it is set to "true"
//     when the request is internal: use_remote_address is on, the client
//     sent no x-forwarded-for, and its address is in internal_address_config
//     (unset: no address is internal, Envoy's default since 1.36);
//   - a request that is not internal loses the x-envoy-* headers that steer
//     Envoy (retry policy, timeouts, ...); an edge request (use_remote_address
//     and not internal) also loses the downstream service headers, and gets
//     x-envoy-external-address, the client's address;
//   - x-request-id is generated when absent, and replaced on edge requests
//     unless preserve_external_request_id;
//   - x-forwarded-for gets the client's address appended, and
//     x-forwarded-proto is set, under use_remote_address.
//
// One difference: for a loopback client Envoy appends its own address to
// x-forwarded-for, Portico the client's (127.0.0.1).

// internalAddrs is an HCM's internal_address_config.
type internalAddrs struct {
	nets []netip.Prefix
}

func compileInternalAddrs(c *hcmv3.HttpConnectionManager_InternalAddressConfig) (*internalAddrs, error) {
	if c == nil {
		return nil, nil
	}
	if err := xdsconf.CheckFields("internal_address_config", c, "unix_sockets", "cidr_ranges"); err != nil {
		return nil, err
	}
	a := &internalAddrs{}
	for _, r := range c.GetCidrRanges() {
		p, err := cidrPrefix(r)
		if err != nil {
			return nil, fmt.Errorf("internal_address_config.cidr_ranges: %v", err)
		}
		a.nets = append(a.nets, p)
	}
	// unix_sockets: the proxy's listeners are TCP sockets only.
	return a, nil
}

func cidrPrefix(r *corev3.CidrRange) (netip.Prefix, error) {
	ip, err := netip.ParseAddr(r.GetAddressPrefix())
	if err != nil {
		return netip.Prefix{}, err
	}
	bits := ip.BitLen()
	if r.GetPrefixLen() != nil {
		bits = int(r.GetPrefixLen().GetValue())
	}
	return ip.Unmap().Prefix(min(bits, ip.Unmap().BitLen()))
}

// contains reports whether the client address ip is internal.
func (a *internalAddrs) contains(ip string) bool {
	if a == nil || len(a.nets) == 0 {
		return false
	}
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	addr = addr.Unmap()
	for _, n := range a.nets {
		if n.Contains(addr) {
			return true
		}
	}
	return false
}

// envoyControl are the x-envoy-* request headers Envoy removes from a
// request that is not internal (cleanInternalHeaders); edgeOnly are
// removed from edge requests only.
var (
	envoyControl = map[string]bool{
		"X-Envoy-Retriable-Status-Codes": true, "X-Envoy-Retriable-Header-Names": true, "X-Envoy-Retry-On": true,
		"X-Envoy-Retry-Grpc-On": true, "X-Envoy-Max-Retries": true, "X-Envoy-Upstream-Alt-Stat-Name": true,
		"X-Envoy-Upstream-Rq-Timeout-Ms": true, "X-Envoy-Upstream-Rq-Per-Try-Timeout-Ms": true,
		"X-Envoy-Upstream-Rq-Timeout-Alt-Response": true, "X-Envoy-Expected-Rq-Timeout-Ms": true,
		"X-Envoy-Force-Trace": true, "X-Envoy-Ip-Tags": true, "X-Envoy-Original-Url": true,
		"X-Envoy-Hedge-On-Per-Try-Timeout": true,
	}
	edgeOnly = map[string]bool{
		"X-Envoy-Decorator-Operation": true, "X-Envoy-Downstream-Service-Cluster": true,
		"X-Envoy-Downstream-Service-Node": true,
	}
)

// requestHeaders applies headers_with_underscores_action and the rules
// above. It returns false when it answered the request itself.
func (h *Config) requestHeaders(st *reqState, r *http.Request) bool {
	hdr := r.Header
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		ip = ""
	}
	_, hadXFF := hdr["X-Forwarded-For"]
	internal := h.useRemote && !hadXFF && ip != "" && h.internal.contains(ip)
	edge := h.useRemote && !internal
	// One pass over the keys serves both checks: most requests have
	// neither kind of header.
	for k := range hdr {
		if len(k) > 8 && k[:8] == "X-Envoy-" {
			if k == "X-Envoy-Internal" || !internal && (envoyControl[k] || edge && edgeOnly[k]) {
				delete(hdr, k)
			}
			continue
		}
		if h.underscores != corev3.HttpProtocolOptions_ALLOW && strings.Contains(k, "_") {
			if h.underscores == corev3.HttpProtocolOptions_REJECT_REQUEST {
				st.localReply(st.w, http.StatusBadRequest, "", "unexpected_underscore", nil)
				return false
			}
			delete(hdr, k)
		}
	}
	if internal {
		st.setHeader(hdr, "X-Envoy-Internal", "true")
	}
	if r.Header.Get("X-Forwarded-Proto") == "" || h.useRemote {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		st.setHeader(hdr, "X-Forwarded-Proto", scheme)
	}
	if h.useRemote && !h.skipXFF && ip != "" {
		if prior := hdr.Get("X-Forwarded-For"); prior != "" {
			st.setHeader(hdr, "X-Forwarded-For", prior+","+ip)
		} else {
			st.setHeader(hdr, "X-Forwarded-For", ip)
		}
	}
	if edge && ip != "" {
		st.setHeader(hdr, "X-Envoy-External-Address", ip)
	}
	if h.genRequestID && (edge && !h.preserveRID || hdr.Get("X-Request-Id") == "") {
		st.setHeader(hdr, "X-Request-Id", newUUID())
	}
	return true
}

// preprocess applies the HCM's request normalisation and the x-forwarded-*,
// x-envoy-* and x-request-id rules. It returns false when it answered
// itself.
func (h *Config) preprocess(st *reqState, r *http.Request) bool {
	if r.Method == http.MethodConnect {
		// CONNECT needs an upgrade config Portico does not support:
		// Envoy answers it with its own 403.
		st.refuseUpgrade()
		return false
	}
	if h.stripAnyPort {
		r.Host = route.StripPort(r.Host)
	}
	if !h.requestHeaders(st, r) {
		return false
	}
	return h.normalisePath(st, r)
}

// normalisePath is Envoy's maybeNormalizePath: the fragment is dropped,
// then path_with_escaped_slashes_action, normalize_path and merge_slashes
// apply to the path as sent (the query is left alone). A path that cannot
// be normalised is refused with 400; UNESCAPE_AND_REDIRECT redirects to
// the result with 307 when it unescaped anything (400 for gRPC, which
// does not follow redirects).
func (h *Config) normalisePath(st *reqState, r *http.Request) bool {
	uri := r.RequestURI
	if uri == "" || uri[0] != '/' {
		uri = r.URL.RequestURI() // absolute form, or a request not from a server
	}
	path, query, hasQuery := strings.Cut(uri, "?")
	frag := strings.IndexByte(path, '#')
	if frag < 0 && pathnorm.IsCanonical(path, h.mergeSlashes) {
		return true // the common case: nothing to do
	}
	if frag >= 0 {
		path, hasQuery = path[:frag], false
	} else if i := strings.IndexByte(query, '#'); i >= 0 {
		query = query[:i]
	}
	redirect := false
	if h.escapedSlashes != hcmv3.HttpConnectionManager_KEEP_UNCHANGED {
		if p, found := pathnorm.UnescapeSlashes(path); found {
			switch h.escapedSlashes {
			case hcmv3.HttpConnectionManager_REJECT_REQUEST:
				st.localReply(st.w, http.StatusBadRequest, "", "path_normalization_failed", nil)
				return false
			case hcmv3.HttpConnectionManager_UNESCAPE_AND_REDIRECT:
				redirect = true
			}
			path = p
		}
	}
	if h.normalizePath {
		var ok bool
		if path, ok = pathnorm.Canonical(path); !ok {
			st.localReply(st.w, http.StatusBadRequest, "", "path_normalization_failed", nil)
			return false
		}
	}
	if h.mergeSlashes {
		path = pathnorm.MergeSlashes(path)
	}
	if hasQuery {
		path += "?" + query
	}
	if redirect {
		if filters.IsGRPCContentType(r.Header.Get("Content-Type")) {
			st.localReply(st.w, http.StatusBadRequest, "", "path_normalization_failed", nil)
			return false
		}
		st.localReply(st.w, http.StatusTemporaryRedirect, "", "path_normalization_failed", func(h http.Header) { h.Set("Location", path) })
		return false
	}
	if path == uri {
		return true
	}
	u, err := url.ParseRequestURI(path)
	if err != nil {
		st.localReply(st.w, http.StatusBadRequest, "", "path_normalization_failed", nil)
		return false
	}
	r.URL.Path, r.URL.RawPath, r.URL.RawQuery, r.URL.ForceQuery = u.Path, u.RawPath, u.RawQuery, u.ForceQuery
	return true
}
