package patch

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/ohler55/ojg/jp"
)

// JSONPath engine: github.com/ohler55/ojg (jp), chosen over
// github.com/theory/jsonpath after measuring both (go test -bench, this
// machine, 2 cores, a RouteConfiguration of 1000 virtual hosts, parse +
// locate per operation):
//
//	expression                                         ojg        theory/jsonpath
//	$..virtual_hosts[?match(@.name, '.*h7_www_example_com')]  72 ms      9.56 s
//	$..routes[?(@.name=='r7')].route                   5.7 ms     7.8 ms
//	$.virtual_hosts[0]                                 2.3 us     10.2 us
//
// and, as important, on what users already write: theory/jsonpath is strict
// RFC 9535 and rejects 4 of the 9 expressions found in Envoy Gateway's own
// tests and guide (a path without the leading `$`, such as
// `..virtual_hosts[...]` or `endpoints`, and the `=~` regex operator), so
// choosing it would break existing policies. Both agree on RFC 9535
// match() (whole string) and search() (substring) semantics.

// resolveJSONPath evaluates expr on the rendered resource and returns one
// JSON Pointer per selected node, with path appended to each.
func resolveJSONPath(doc []byte, expr, path string) ([]string, error) {
	if strings.TrimSpace(expr) == "$" {
		// Selecting the root would make every op replace or extend the
		// whole resource; an explicit path "" says that more clearly.
		return nil, fmt.Errorf("The jsonPath '$' selects the whole resource and is not allowed; use the 'path' attribute instead")
	}
	x, err := jp.ParseString(expr)
	if err != nil {
		return nil, fmt.Errorf("Invalid jsonPath '%s': %v", expr, err)
	}
	var data any
	if err := json.Unmarshal(doc, &data); err != nil {
		return nil, err
	}
	locs := x.Locate(data, 0)
	if len(locs) == 0 {
		return nil, fmt.Errorf("No jsonPointers were found while evaluating the jsonPath: '%s'. "+
			"Ensure the elements you are trying to select with the jsonPath exist in the document. "+
			"If you need to add a non-existing property, use the 'path' attribute.", expr)
	}
	out := make([]string, 0, len(locs))
	for _, loc := range locs {
		ptr, err := toPointer(loc)
		if err != nil {
			return nil, fmt.Errorf("jsonPath '%s': %v", expr, err)
		}
		out = append(out, joinPointer(ptr, path))
	}
	return out, nil
}

// toPointer converts a normalized location (only root, child and index
// fragments) to an RFC 6901 JSON Pointer.
func toPointer(loc jp.Expr) (string, error) {
	var b strings.Builder
	for _, f := range loc {
		switch v := f.(type) {
		case jp.Root, jp.At:
		case jp.Child:
			b.WriteByte('/')
			b.WriteString(escapePointer(string(v)))
		case jp.Nth:
			b.WriteByte('/')
			b.WriteString(strconv.Itoa(int(v)))
		default:
			return "", fmt.Errorf("cannot express location %s as a JSON Pointer", loc)
		}
	}
	return b.String(), nil
}

func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// joinPointer appends path to a match. Envoy Gateway's guide writes the
// relative path with or without its leading slash
// ("include_attempt_count_in_response", "/1"); both mean a child.
func joinPointer(ptr, path string) string {
	switch {
	case path == "":
		return ptr
	case strings.HasPrefix(path, "/"):
		return ptr + path
	default:
		return ptr + "/" + path
	}
}
