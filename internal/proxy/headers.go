package proxy

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"unicode/utf8"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
)

// headerOps is one level's request or response header mutation
// (*_headers_to_add and *_headers_to_remove of a route config, virtual host,
// route or weighted cluster).
type headerOps struct {
	add    []headerAdd
	remove []string
}

type headerAdd struct {
	key    string
	value  valueFmt
	action corev3.HeaderValueOption_HeaderAppendAction
	keep   bool // keep_empty_value
}

// valueFmt renders a header value that may carry Envoy substitution
// commands. Only the commands below are understood; any other %COMMAND% is
// NACKed at config time so a literal "%FOO%" never reaches an upstream.
type valueFmt struct {
	parts []fmtPart
}

type fmtPart struct {
	lit string
	cmd string // "" for literal
	arg string
}

var hostname, _ = os.Hostname()

var fmtCmd = regexp.MustCompile(`%([A-Z_]+)(?:\(([^)]*)\))?%`)

func compileValueFmt(v string) (valueFmt, error) {
	var f valueFmt
	for len(v) > 0 {
		i := strings.IndexByte(v, '%')
		if i < 0 {
			f.parts = append(f.parts, fmtPart{lit: v})
			break
		}
		if i > 0 {
			f.parts = append(f.parts, fmtPart{lit: v[:i]})
			v = v[i:]
		}
		if strings.HasPrefix(v, "%%") {
			f.parts = append(f.parts, fmtPart{lit: "%"})
			v = v[2:]
			continue
		}
		loc := fmtCmd.FindStringSubmatchIndex(v)
		if loc == nil || loc[0] != 0 {
			return f, fmt.Errorf("header value %q: unterminated or invalid %% command", v)
		}
		cmd := v[loc[2]:loc[3]]
		arg := ""
		if loc[4] >= 0 {
			arg = v[loc[4]:loc[5]]
		}
		switch cmd {
		case "DOWNSTREAM_REMOTE_ADDRESS", "DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT", "REQ", "PROTOCOL", "HOSTNAME":
		case "DYNAMIC_METADATA":
			if ns, _, _ := strings.Cut(arg, ":"); ns == "" || !strings.Contains(arg, ":") {
				return f, fmt.Errorf("header value %q: %%DYNAMIC_METADATA%% needs NAMESPACE:KEY", v)
			}
		default:
			return f, fmt.Errorf("header value %q: substitution command %%%s%% is not supported", v, cmd)
		}
		f.parts = append(f.parts, fmtPart{cmd: cmd, arg: arg})
		v = v[loc[1]:]
	}
	return f, nil
}

// render builds the value for a request; md is the request's dynamic
// metadata (nil where there is none, e.g. local replies).
func (f valueFmt) render(r *http.Request, md map[string]map[string]any) string {
	if len(f.parts) == 1 && f.parts[0].cmd == "" {
		return f.parts[0].lit
	}
	var b strings.Builder
	for _, p := range f.parts {
		switch p.cmd {
		case "":
			b.WriteString(p.lit)
		case "DOWNSTREAM_REMOTE_ADDRESS":
			b.WriteString(r.RemoteAddr)
		case "DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT":
			h, _, err := net.SplitHostPort(r.RemoteAddr)
			if err != nil {
				h = r.RemoteAddr
			}
			b.WriteString(h)
		case "REQ":
			name, _, _ := strings.Cut(p.arg, "?")
			v, _ := reqHeader(r, name)
			b.WriteString(v)
		case "PROTOCOL":
			b.WriteString(r.Proto)
		case "HOSTNAME":
			b.WriteString(hostname)
		case "DYNAMIC_METADATA":
			b.WriteString(dynamicMetadataValue(md, p.arg))
		}
	}
	return b.String()
}

func compileHeaderOps(add []*corev3.HeaderValueOption, remove []string) (headerOps, error) {
	var ops headerOps
	for _, a := range add {
		h := a.GetHeader()
		if h.GetKey() == "" {
			return ops, fmt.Errorf("header to add without a key")
		}
		val := h.GetValue()
		if val == "" && len(h.GetRawValue()) > 0 {
			val = string(h.GetRawValue())
		}
		vf, err := compileValueFmt(val)
		if err != nil {
			return ops, err
		}
		act := a.GetAppendAction()
		if a.GetAppend() != nil {
			// The deprecated bool wins when set, as in Envoy.
			if a.GetAppend().GetValue() {
				act = corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD
			} else {
				act = corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD
			}
		}
		ops.add = append(ops.add, headerAdd{key: strings.ToLower(h.GetKey()), value: vf, action: act, keep: a.GetKeepEmptyValue()})
	}
	for _, r := range remove {
		ops.remove = append(ops.remove, strings.ToLower(r))
	}
	return ops, nil
}

// apply mutates h. Removal runs first, then additions, as in Envoy.
// ":authority" in a request maps to the request's Host.
func (o headerOps) apply(h http.Header, r *http.Request, md map[string]map[string]any, setHost func(string)) {
	for _, k := range o.remove {
		h.Del(k)
	}
	for _, a := range o.add {
		v := a.value.render(r, md)
		if v == "" && !a.keep {
			continue
		}
		if (a.key == ":authority" || a.key == "host") && setHost != nil {
			setHost(v)
			continue
		}
		_, exists := h[http.CanonicalHeaderKey(a.key)]
		switch a.action {
		case corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD:
			h.Add(a.key, v)
		case corev3.HeaderValueOption_ADD_IF_ABSENT:
			if !exists {
				h.Set(a.key, v)
			}
		case corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD:
			h.Set(a.key, v)
		case corev3.HeaderValueOption_OVERWRITE_IF_EXISTS:
			if exists {
				h.Set(a.key, v)
			}
		}
	}
}

// reqHeader reads a request header, pseudo-headers included.
func reqHeader(r *http.Request, name string) (string, bool) {
	switch pseudoName(name) {
	case ":authority", "host":
		return r.Host, r.Host != ""
	case ":path":
		return r.URL.RequestURI(), true
	case ":method":
		return r.Method, true
	}
	v := r.Header.Values(name)
	if len(v) == 0 {
		return "", false
	}
	return strings.Join(v, ","), true
}

// pseudoNames are the names reqHeader answers from the request line.
var pseudoNames = [...]string{":authority", "host", ":path", ":method"}

// pseudoName is the pseudoNames entry strings.ToLower(name) equals, or ""
// (or the lowercased name, for non-ASCII names). The access log asks for
// ":PATH", ":METHOD" and ":AUTHORITY" on every request; lowercasing them
// allocated each time.
func pseudoName(name string) string {
	for i := 0; i < len(name); i++ {
		if name[i] >= utf8.RuneSelf {
			return strings.ToLower(name)
		}
	}
	for _, p := range pseudoNames {
		if asciiEqualFold(name, p) {
			return p
		}
	}
	return ""
}

// asciiEqualFold reports whether ASCII s lowercases to lower.
func asciiEqualFold(s, lower string) bool {
	if len(s) != len(lower) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// dynamicMetadataValue renders %DYNAMIC_METADATA(NAMESPACE:KEY[:KEY...])%
// as Envoy's header formatter does: a string as it is, other values as
// JSON, nothing when absent. A trailing max length (":Z") is not parsed:
// keys are taken as written.
func dynamicMetadataValue(md map[string]map[string]any, arg string) string {
	path := strings.Split(arg, ":")
	vals := md[path[0]]
	if vals == nil {
		return ""
	}
	var v any = vals
	for _, k := range path[1:] {
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		if v, ok = m[k]; !ok {
			return ""
		}
	}
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return ""
	}
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}
