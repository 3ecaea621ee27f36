package route

import (
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"

	"github.com/portico-gw/portico/internal/proxy/streaminfo"
)

// HeaderOps is one level's request or response header mutation
// (*_headers_to_add and *_headers_to_remove of a route config, virtual host,
// route or weighted cluster).
type HeaderOps struct {
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
		default:
			return f, fmt.Errorf("header value %q: substitution command %%%s%% is not supported", v, cmd)
		}
		f.parts = append(f.parts, fmtPart{cmd: cmd, arg: arg})
		v = v[loc[1]:]
	}
	return f, nil
}

func (f valueFmt) render(r *http.Request) string {
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
			v, _ := streaminfo.RequestHeader(r, name)
			b.WriteString(v)
		case "PROTOCOL":
			b.WriteString(r.Proto)
		case "HOSTNAME":
			b.WriteString(streaminfo.Hostname)
		}
	}
	return b.String()
}

func CompileHeaderOps(add []*corev3.HeaderValueOption, remove []string) (HeaderOps, error) {
	var ops HeaderOps
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
func (o HeaderOps) Apply(h http.Header, r *http.Request, setHost func(string)) {
	for _, k := range o.remove {
		h.Del(k)
	}
	for _, a := range o.add {
		v := a.value.render(r)
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
