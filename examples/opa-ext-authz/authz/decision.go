package authz

import (
	"fmt"
	"net/http"
	"sort"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/types/known/structpb"
)

// Response maps a policy decision to a CheckResponse with the semantics
// of OPA's Envoy plugin: a boolean allows or denies (a bare
// PERMISSION_DENIED, which Envoy answers with an empty 403); an object
// must say `allowed` and may carry headers, body, http_status,
// dynamic_metadata and the header and query edits.
func Response(decision any) (*authv3.CheckResponse, error) {
	switch d := decision.(type) {
	case bool:
		if d {
			return &authv3.CheckResponse{Status: &status.Status{Code: int32(code.Code_OK)},
				HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{}}}, nil
		}
		return &authv3.CheckResponse{Status: &status.Status{Code: int32(code.Code_PERMISSION_DENIED)}}, nil
	case map[string]any:
		return objectResponse(d)
	}
	return nil, fmt.Errorf("illegal value for policy evaluation result: %T", decision)
}

func objectResponse(d map[string]any) (*authv3.CheckResponse, error) {
	v, ok := d["allowed"]
	if !ok {
		return nil, fmt.Errorf(`unable to determine evaluation result due to missing "allowed" key`)
	}
	allowed, ok := v.(bool)
	if !ok {
		return nil, fmt.Errorf(`type assertion error, expected "allowed" to be of type boolean but got %T`, v)
	}
	headers, err := headerOptions(d["headers"])
	if err != nil {
		return nil, err
	}
	resp := &authv3.CheckResponse{}
	if md, ok := d["dynamic_metadata"].(map[string]any); ok {
		if resp.DynamicMetadata, err = structpb.NewStruct(md); err != nil {
			return nil, fmt.Errorf("dynamic_metadata: %v", err)
		}
	}
	if allowed {
		ok := &authv3.OkHttpResponse{Headers: headers}
		if ok.HeadersToRemove, err = stringList(d["request_headers_to_remove"], "request_headers_to_remove"); err != nil {
			return nil, err
		}
		if ok.ResponseHeadersToAdd, err = headerOptions(d["response_headers_to_add"]); err != nil {
			return nil, err
		}
		if ok.QueryParametersToRemove, err = stringList(d["query_parameters_to_remove"], "query_parameters_to_remove"); err != nil {
			return nil, err
		}
		if qs, okq := d["query_parameters_to_set"].(map[string]any); okq {
			for _, k := range sortedKeys(qs) {
				ok.QueryParametersToSet = append(ok.QueryParametersToSet, &corev3.QueryParameter{Key: k, Value: fmt.Sprint(qs[k])})
			}
		}
		resp.Status = &status.Status{Code: int32(code.Code_OK)}
		resp.HttpResponse = &authv3.CheckResponse_OkResponse{OkResponse: ok}
		return resp, nil
	}
	st := http.StatusForbidden
	if v, ok := d["http_status"]; ok {
		n, ok := number(v)
		if !ok || http.StatusText(n) == "" {
			return nil, fmt.Errorf("invalid HTTP status code %v", v)
		}
		st = n
	}
	denied := &authv3.DeniedHttpResponse{Status: &typev3.HttpStatus{Code: typev3.StatusCode(st)}, Headers: headers}
	if b, ok := d["body"].(string); ok {
		denied.Body = b
	}
	resp.Status = &status.Status{Code: int32(code.Code_PERMISSION_DENIED)}
	resp.HttpResponse = &authv3.CheckResponse_DeniedResponse{DeniedResponse: denied}
	return resp, nil
}

// headerOptions reads a map of name to string (or list of strings), or a
// list of such maps.
func headerOptions(v any) ([]*corev3.HeaderValueOption, error) {
	var maps []map[string]any
	switch x := v.(type) {
	case nil:
		return nil, nil
	case map[string]any:
		maps = []map[string]any{x}
	case []any:
		for _, e := range x {
			m, ok := e.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("headers: expected an object, got %T", e)
			}
			maps = append(maps, m)
		}
	default:
		return nil, fmt.Errorf("headers: expected an object or a list, got %T", v)
	}
	var out []*corev3.HeaderValueOption
	for _, m := range maps {
		for _, k := range sortedKeys(m) {
			vals := []any{m[k]}
			if l, ok := m[k].([]any); ok {
				vals = l
			}
			for _, val := range vals {
				s, ok := val.(string)
				if !ok {
					return nil, fmt.Errorf("headers: value of %q must be a string", k)
				}
				out = append(out, &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: k, Value: s}})
			}
		}
	}
	return out, nil
}

func stringList(v any, what string) ([]string, error) {
	if v == nil {
		return nil, nil
	}
	l, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%s: expected a list", what)
	}
	out := make([]string, 0, len(l))
	for _, e := range l {
		s, ok := e.(string)
		if !ok {
			return nil, fmt.Errorf("%s: expected strings", what)
		}
		out = append(out, s)
	}
	return out, nil
}

func number(v any) (int, bool) {
	switch n := v.(type) {
	case float64:
		return int(n), float64(int(n)) == n
	case interface{ Int64() (int64, error) }:
		i, err := n.Int64()
		return int(i), err == nil
	}
	return 0, false
}

func sortedKeys(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
