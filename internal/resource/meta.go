package resource

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	sigsjson "sigs.k8s.io/json"
)

// checkMeta validates metadata the way the API server does on create, after applying
// the loader's namespace rules: a namespaced object without a namespace gets the
// default one; a cluster-scoped object's namespace is cleared (the API server ignores
// it too). It rewrites m["metadata"] in place and returns the final namespace and name.
func checkMeta(m map[string]any, kind string, namespaced bool, defaultNS string) (ns, name string, problems []fieldProblem) {
	raw, present := m["metadata"]
	md, ok := raw.(map[string]any)
	if !present || raw == nil {
		md = map[string]any{}
		m["metadata"] = md
	} else if !ok {
		return "", "", []fieldProblem{{path: []pathElem{fieldElem("metadata")},
			msg: field.Invalid(nil, badValue(raw), "must be of type object").ErrorBody()}}
	}
	if namespaced {
		if s, _ := md["namespace"].(string); s == "" {
			md["namespace"] = defaultNS
		}
	} else {
		delete(md, "namespace")
	}
	data, err := json.Marshal(md)
	if err != nil {
		return "", "", []fieldProblem{{path: []pathElem{fieldElem("metadata")}, msg: err.Error()}}
	}
	var om metav1.ObjectMeta
	strictErrs, err := sigsjson.UnmarshalStrict(data, &om)
	for _, e := range strictErrs {
		problems = append(problems, strictProblem(e, "metadata", kind))
	}
	if err != nil {
		problems = append(problems, decodeProblem(err, "metadata", kind))
		return "", "", problems
	}
	nameFn := apivalidation.NameIsDNSSubdomain
	switch kind {
	case "Namespace":
		nameFn = apivalidation.ValidateNamespaceName
	case "Service":
		nameFn = apivalidation.NameIsDNS1035Label
	}
	for _, fe := range apivalidation.ValidateObjectMeta(&om, namespaced, nameFn, field.NewPath("metadata")) {
		problems = append(problems, fieldProblem{path: parsePath(fe.Field), msg: fe.ErrorBody()})
	}
	return om.Namespace, om.Name, problems
}

// strictProblem turns a sigs.k8s.io/json strict error ("unknown field" / "duplicate
// field" with a dotted path) into a problem under prefix.
func strictProblem(err error, prefix, kind string) fieldProblem {
	var fe sigsjson.FieldError
	if errors.As(err, &fe) {
		p := joinPath(prefix, fe.FieldPath())
		msg := strings.TrimSuffix(err.Error(), " "+strconv.Quote(fe.FieldPath()))
		elems := parsePath(p)
		if n := len(elems); n > 0 && elems[n-1].index < 0 {
			msg += " " + strconv.Quote(elems[n-1].key)
		}
		return fieldProblem{path: elems, msg: msg}
	}
	return fieldProblem{path: parsePath(prefix), msg: sanitize(err.Error(), kind)}
}

// decodeProblem reports a type mismatch found by the JSON decoder. For Secrets the
// offending value is never echoed: encoding/json quotes numbers it could not store.
func decodeProblem(err error, prefix, kind string) fieldProblem {
	// sigs.k8s.io/json keeps its UnmarshalTypeError internal; read its stable message.
	if m := typeErrRe.FindStringSubmatch(err.Error()); m != nil {
		return fieldProblem{path: parsePath(joinPath(prefix, m[2])),
			msg: fmt.Sprintf("Invalid value: %s: must be of type %s", valueWord(m[1], kind), m[3])}
	}
	var fe sigsjson.FieldError
	if errors.As(err, &fe) {
		return fieldProblem{path: parsePath(joinPath(prefix, fe.FieldPath())), msg: sanitize(err.Error(), kind)}
	}
	return fieldProblem{path: parsePath(prefix), msg: sanitize(strings.TrimPrefix(err.Error(), "json: "), kind)}
}

var typeErrRe = regexp.MustCompile(`^json: cannot unmarshal (.+) into Go struct field [A-Za-z0-9_]+\.(\S+) of type (.+)$`)

func valueWord(v, kind string) string {
	if kind == "Secret" {
		if i := strings.IndexByte(v, ' '); i >= 0 {
			return v[:i] // "number 12345" -> "number"
		}
	}
	return v
}

// sanitize strips anything after a colon from decoder messages about Secrets; those
// tails can quote input bytes.
func sanitize(msg, kind string) string {
	if kind != "Secret" {
		return msg
	}
	if i := strings.Index(msg, ": "); i >= 0 {
		return msg[:i] + " (value omitted)"
	}
	return msg
}

func joinPath(prefix, p string) string {
	switch {
	case p == "":
		return prefix
	case prefix == "":
		return p
	case strings.HasPrefix(p, "["):
		return prefix + p
	}
	return prefix + "." + p
}

// parsePath reads a rendered path (a.b[0].c[key]) back into elements.
func parsePath(s string) []pathElem {
	var out []pathElem
	for s != "" {
		switch s[0] {
		case '.':
			s = s[1:]
		case '[':
			end := strings.IndexByte(s, ']')
			if end < 0 {
				return append(out, fieldElem(s))
			}
			inner := s[1:end]
			if n, err := parseIndex(inner); err == nil {
				out = append(out, indexElem(n))
			} else {
				out = append(out, keyElem(inner))
			}
			s = s[end+1:]
		default:
			end := strings.IndexAny(s, ".[")
			if end < 0 {
				end = len(s)
			}
			out = append(out, fieldElem(s[:end]))
			s = s[end:]
		}
	}
	return out
}

func parseIndex(s string) (int, error) {
	if s == "" {
		return 0, errors.New("empty")
	}
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, errors.New("not a number")
		}
		n = n*10 + int(c-'0')
	}
	return n, nil
}
