package authz

import (
	"encoding/json"
	"fmt"
	"mime"
	"mime/multipart"
	"net/url"
	"strconv"
	"strings"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/protobuf/encoding/protojson"
)

// Input builds the policy's `input` document for a CheckRequest, as
// OPA's Envoy plugin does: the request in protobuf JSON names
// (attributes.request.http.headers, attributes.source.address, ...) plus
// version, parsed_path, parsed_query, parsed_body and truncated_body.
func Input(req *authv3.CheckRequest, skipBodyParse bool) (map[string]any, error) {
	b, err := protojson.Marshal(req)
	if err != nil {
		return nil, err
	}
	var in map[string]any
	if err := json.Unmarshal(b, &in); err != nil {
		return nil, err
	}
	if in == nil {
		in = map[string]any{}
	}
	in["version"] = map[string]any{"ext_authz": "v3", "encoding": "protojson"}
	h := req.GetAttributes().GetRequest().GetHttp()
	path, query, _ := strings.Cut(h.GetPath(), "?")
	in["parsed_path"] = parsedPath(path)
	pq, err := url.ParseQuery(query)
	if err != nil {
		return nil, fmt.Errorf("query %q: %v", query, err)
	}
	parsedQuery := map[string]any{}
	for k, vs := range pq {
		l := make([]any, len(vs))
		for i, v := range vs {
			l[i] = v
		}
		parsedQuery[k] = l
	}
	in["parsed_query"] = parsedQuery
	if skipBodyParse {
		return in, nil
	}
	body, truncated, err := parsedBody(h)
	if err != nil {
		return nil, err
	}
	in["parsed_body"] = body
	in["truncated_body"] = truncated
	return in, nil
}

// parsedPath is the path unescaped and split on "/", without the leading
// slash: "/a/b%20c" is ["a", "b c"].
func parsedPath(p string) []any {
	p = strings.TrimPrefix(p, "/")
	parts := strings.Split(p, "/")
	out := make([]any, len(parts))
	for i, s := range parts {
		if u, err := url.PathUnescape(s); err == nil {
			s = u
		}
		out[i] = s
	}
	return out
}

// parsedBody parses JSON, form and multipart bodies; other bodies (and
// none) are null. truncated reports a body Envoy cut at
// max_request_bytes (its content-length says more than was sent).
func parsedBody(h *authv3.AttributeContext_HttpRequest) (any, bool, error) {
	raw := h.GetRawBody()
	if raw == nil {
		raw = []byte(h.GetBody())
	}
	truncated := false
	if cl, err := strconv.ParseInt(h.GetHeaders()["content-length"], 10, 64); err == nil && cl > int64(len(raw)) {
		truncated = true
	}
	if len(raw) == 0 || truncated {
		return nil, truncated, nil
	}
	ct, params, _ := mime.ParseMediaType(h.GetHeaders()["content-type"])
	switch {
	case ct == "application/json" || strings.HasSuffix(ct, "+json"):
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, false, fmt.Errorf("body is not valid JSON: %v", err)
		}
		return v, false, nil
	case ct == "application/x-www-form-urlencoded":
		vals, err := url.ParseQuery(string(raw))
		if err != nil {
			return nil, false, fmt.Errorf("form body: %v", err)
		}
		return listMap(vals), false, nil
	case ct == "multipart/form-data":
		r := multipart.NewReader(strings.NewReader(string(raw)), params["boundary"])
		form, err := r.ReadForm(int64(len(raw)) + 1)
		if err != nil {
			return nil, false, fmt.Errorf("multipart body: %v", err)
		}
		return listMap(form.Value), false, nil
	}
	return nil, false, nil
}

func listMap(m map[string][]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, vs := range m {
		l := make([]any, len(vs))
		for i, v := range vs {
			l[i] = v
		}
		out[k] = l
	}
	return out
}
