package extauthz

import (
	"net/http"
	"net/url"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
)

// outcome is an authorization server's decision in one shape for both
// transports.
type outcome struct {
	allowed bool
	// Denied: the status (403 when the server gives none), body and
	// headers of the answer to the client.
	status int
	body   string
	// Allowed: edits of the upstream request and of the client response.
	upstream       []headerEdit
	removeUpstream []string
	response       []headerEdit
	setQuery       map[string]string
	removeQuery    []string
	metadata       map[string]any
}

type headerEdit struct {
	name, value string
	add         bool // append rather than overwrite
}

// fromCheckResponse maps a CheckResponse: status OK allows, anything else
// denies (PERMISSION_DENIED without an http response is a bare 403).
func fromCheckResponse(r *authv3.CheckResponse) *outcome {
	o := &outcome{metadata: r.GetDynamicMetadata().AsMap()}
	if r.GetStatus().GetCode() == 0 {
		o.allowed = true
		ok := r.GetOkResponse()
		o.upstream = edits(ok.GetHeaders(), false)
		o.removeUpstream = ok.GetHeadersToRemove()
		o.response = edits(ok.GetResponseHeadersToAdd(), false)
		for _, q := range ok.GetQueryParametersToSet() {
			if o.setQuery == nil {
				o.setQuery = map[string]string{}
			}
			o.setQuery[q.GetKey()] = q.GetValue()
		}
		o.removeQuery = ok.GetQueryParametersToRemove()
		return o
	}
	d := r.GetDeniedResponse()
	o.status = int(d.GetStatus().GetCode())
	if o.status == 0 {
		o.status = http.StatusForbidden
	}
	o.body = d.GetBody()
	o.response = edits(d.GetHeaders(), false)
	return o
}

// edits reads HeaderValueOptions: append_action wins over the deprecated
// append flag, whose default here is to overwrite.
func edits(opts []*corev3.HeaderValueOption, appendDefault bool) []headerEdit {
	out := make([]headerEdit, 0, len(opts))
	for _, o := range opts {
		add := appendDefault
		if a := o.GetAppend(); a != nil {
			add = a.GetValue()
		}
		switch o.GetAppendAction() {
		case corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD:
			if o.GetAppend() == nil {
				add = appendDefault
			}
		case corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD, corev3.HeaderValueOption_OVERWRITE_IF_EXISTS:
			add = false
		case corev3.HeaderValueOption_ADD_IF_ABSENT:
			add = true
		}
		out = append(out, headerEdit{name: o.GetHeader().GetKey(), value: headerValue(o.GetHeader()), add: add})
	}
	return out
}

func headerValue(h *corev3.HeaderValue) string {
	if h.GetValue() != "" {
		return h.GetValue()
	}
	return string(h.GetRawValue())
}

func (e headerEdit) apply(h http.Header) {
	if e.add {
		h.Add(e.name, e.value)
	} else {
		h.Set(e.name, e.value)
	}
}

// applyToRequest edits the upstream request; it reports whether headers
// changed (for clear_route_cache).
func (o *outcome) applyToRequest(r *http.Request) bool {
	for _, e := range o.upstream {
		e.apply(r.Header)
	}
	for _, n := range o.removeUpstream {
		r.Header.Del(n)
	}
	if len(o.setQuery) > 0 || len(o.removeQuery) > 0 {
		q := r.URL.Query()
		for _, n := range o.removeQuery {
			q.Del(n)
		}
		for k, v := range o.setQuery {
			q.Set(k, v)
		}
		r.URL.RawQuery = url.Values(q).Encode()
	}
	return len(o.upstream) > 0 || len(o.removeUpstream) > 0
}
