package extauthz

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/portico-gw/portico/internal/proxy/filters"
	"github.com/portico-gw/portico/internal/proxy/match"
)

// httpService is the raw HTTP transport: the original method and path
// (after path_prefix, or path_override) with the allowed headers go to
// the server; a 200 allows, any other answer is the client's answer.
type httpService struct {
	cluster, authority string
	pathPrefix         string
	pathOverride       string
	headersToAdd       []headerEdit
	upstream           []match.String // allowed_upstream_headers
	upstreamAppend     []match.String // allowed_upstream_headers_to_append
	client             []match.String // allowed_client_headers (denied answers); nil = all
	clientOnSuccess    []match.String
}

// defaultHTTPHeaders are the headers the raw HTTP transport forwards when
// no allow-list is set, as Envoy.
var defaultHTTPHeaders = map[string]bool{"authorization": true, "content-length": true, "host": true, ":authority": true, ":method": true, ":path": true}

func (h *httpService) check(ctx context.Context, f *Filter, s *filters.Stream, body []byte) (*outcome, error) {
	r := s.Request
	path := h.pathPrefix + r.URL.RequestURI()
	if h.pathOverride != "" {
		path = h.pathOverride
	}
	var rd io.Reader = http.NoBody
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, "http://"+h.authority+path, rd)
	if err != nil {
		return nil, err
	}
	req.Host = r.Host
	for k, vs := range r.Header {
		name := strings.ToLower(k)
		if f.allowed == nil && !defaultHTTPHeaders[name] || f.allowed != nil && !f.headerAllowed(name) {
			continue
		}
		req.Header[k] = vs
	}
	if body != nil {
		req.ContentLength = int64(len(body))
		req.Header.Set("Content-Length", strconv.Itoa(len(body)))
	} else {
		req.ContentLength = 0
		req.Header.Del("Content-Length")
	}
	for _, e := range h.headersToAdd {
		e.apply(req.Header)
	}
	resp, err := f.upstreams(s).RoundTrip(h.cluster, req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return nil, err
	}
	o := &outcome{allowed: resp.StatusCode == http.StatusOK}
	if !o.allowed {
		o.status, o.body = resp.StatusCode, string(b)
		for k, vs := range resp.Header {
			if skipClientHeader(k) || h.client != nil && !anyMatch(h.client, strings.ToLower(k)) {
				continue
			}
			for _, v := range vs {
				o.response = append(o.response, headerEdit{name: k, value: v, add: true})
			}
		}
		return o, nil
	}
	for k, vs := range resp.Header {
		name := strings.ToLower(k)
		switch {
		case anyMatch(h.upstream, name):
			o.upstream = append(o.upstream, headerEdit{name: k, value: strings.Join(vs, ",")})
		case anyMatch(h.upstreamAppend, name):
			for _, v := range vs {
				o.upstream = append(o.upstream, headerEdit{name: k, value: v, add: true})
			}
		}
		if anyMatch(h.clientOnSuccess, name) {
			for _, v := range vs {
				o.response = append(o.response, headerEdit{name: k, value: v, add: true})
			}
		}
	}
	return o, nil
}

// skipClientHeader leaves out what describes the authorization server's
// own message rather than the decision.
func skipClientHeader(k string) bool {
	switch strings.ToLower(k) {
	case "content-length", "transfer-encoding", "connection", "date", "server", "host", "keep-alive":
		return true
	}
	return false
}

func anyMatch(ms []match.String, s string) bool {
	for _, m := range ms {
		if m(s) {
			return true
		}
	}
	return false
}
