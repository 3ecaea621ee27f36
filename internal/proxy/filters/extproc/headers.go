package extproc

import (
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocsvc "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"golang.org/x/net/http/httpguts"
)

// Header maps go to the processor as Envoy sends them: lower-case names,
// pseudo-headers first, one entry per value, the value in raw_value.

func requestHeaderMap(r *http.Request) *corev3.HeaderMap {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	hm := &corev3.HeaderMap{Headers: []*corev3.HeaderValue{
		raw(":authority", r.Host), raw(":path", r.URL.RequestURI()), raw(":method", r.Method), raw(":scheme", scheme),
	}}
	appendHeaders(hm, r.Header)
	return hm
}

func responseHeaderMap(code int, h http.Header) *corev3.HeaderMap {
	hm := &corev3.HeaderMap{Headers: []*corev3.HeaderValue{raw(":status", strconv.Itoa(code))}}
	appendHeaders(hm, h)
	return hm
}

// trailerMap lists trailers (keys without net/http's TrailerPrefix).
func trailerMap(h http.Header) *corev3.HeaderMap {
	hm := &corev3.HeaderMap{}
	appendHeaders(hm, h)
	return hm
}

func raw(k, v string) *corev3.HeaderValue { return &corev3.HeaderValue{Key: k, RawValue: []byte(v)} }

// appendHeaders adds h sorted by name, so the processor sees a stable
// order; keys net/http uses for bookkeeping (a nil Content-Type, trailer
// declarations) are left out.
func appendHeaders(hm *corev3.HeaderMap, h http.Header) {
	keys := make([]string, 0, len(h))
	for k, vs := range h {
		if len(vs) > 0 && !strings.HasPrefix(k, http.TrailerPrefix) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		lk := strings.ToLower(k)
		for _, v := range h[k] {
			hm.Headers = append(hm.Headers, raw(lk, v))
		}
	}
}

// headerTarget is what a mutation changes: a header map, and the
// pseudo-headers it may carry.
type headerTarget struct {
	h        http.Header
	setPath  func(string) error // request :path; nil elsewhere
	setCode  func(int)          // response :status; nil elsewhere
	trailers bool
}

// applyMutation applies a HeaderMutation with Envoy's default rules: the
// routing headers (host, :authority, :scheme, :method) and x-envoy-*
// cannot be changed and are skipped; :path and :status can; any other
// pseudo-header, a header name or value with invalid characters, or an
// invalid :status fails the message. set_headers replace unless append
// is true; the value is raw_value, or value when raw_value is empty.
func applyMutation(m *extprocsvc.HeaderMutation, t headerTarget) error {
	if m == nil {
		return nil
	}
	for _, name := range m.GetRemoveHeaders() {
		k := strings.ToLower(name)
		if skipped(k) || strings.HasPrefix(k, ":") {
			continue
		}
		if !httpguts.ValidHeaderFieldName(k) {
			return fmt.Errorf("invalid header name %q", name)
		}
		t.h.Del(k)
	}
	for _, o := range m.GetSetHeaders() {
		hv := o.GetHeader()
		k := strings.ToLower(hv.GetKey())
		v := string(hv.GetRawValue())
		if len(hv.GetRawValue()) == 0 {
			v = hv.GetValue()
		}
		if !httpguts.ValidHeaderFieldValue(v) {
			return fmt.Errorf("invalid value for header %q", k)
		}
		if skipped(k) {
			continue
		}
		if strings.HasPrefix(k, ":") {
			if err := setPseudo(k, v, t); err != nil {
				return err
			}
			continue
		}
		if !httpguts.ValidHeaderFieldName(k) {
			return fmt.Errorf("invalid header name %q", hv.GetKey())
		}
		if o.GetAppend().GetValue() {
			t.h.Add(k, v)
		} else {
			t.h.Set(k, v)
		}
	}
	return nil
}

// skipped are the headers Envoy's default mutation rules protect.
func skipped(k string) bool {
	switch k {
	case "host", ":authority", ":scheme", ":method":
		return true
	}
	return strings.HasPrefix(k, "x-envoy-")
}

func setPseudo(k, v string, t headerTarget) error {
	switch {
	case k == ":path" && t.setPath != nil:
		return t.setPath(v)
	case k == ":status" && t.setCode != nil:
		code, err := strconv.Atoi(v)
		if err != nil || code < 200 || code > 599 {
			return fmt.Errorf("invalid :status %q", v)
		}
		t.setCode(code)
		return nil
	}
	return fmt.Errorf("pseudo-header %s cannot be set here", k)
}

// requestPath sets a request's :path.
func requestPath(r *http.Request) func(string) error {
	return func(v string) error {
		u, err := url.ParseRequestURI(v)
		if err != nil || !strings.HasPrefix(v, "/") {
			return fmt.Errorf("invalid :path %q", v)
		}
		r.URL.Path, r.URL.RawPath, r.URL.RawQuery = u.Path, u.RawPath, u.RawQuery
		return nil
	}
}
