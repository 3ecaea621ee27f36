package accesslog

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	filev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/file/v3"
	streamv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/stream/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/portico-gw/portico/internal/proxy/streaminfo"
	"github.com/portico-gw/portico/internal/proxy/xdsconf"
)

// Spec is one configured access log: where, what and when.
type Spec struct {
	path   string // "" for stdout
	text   []logCmd
	json   map[string][]logCmd
	fields []jsonField // json, sorted by key
	filter Filter
}

const (
	fileLogType   = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog"
	stdoutLogType = "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog"
	stderrLogType = "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StderrAccessLog"
)

// Compile compiles an HCM's access_log entries.
func Compile(logs []*accesslogv3.AccessLog) ([]*Spec, error) {
	var out []*Spec
	for _, l := range logs {
		spec := &Spec{}
		var format *corev3.SubstitutionFormatString
		tc := l.GetTypedConfig()
		switch tc.GetTypeUrl() {
		case fileLogType:
			var f filev3.FileAccessLog
			if err := tc.UnmarshalTo(&f); err != nil {
				return nil, err
			}
			spec.path = f.GetPath()
			switch af := f.GetAccessLogFormat().(type) {
			case *filev3.FileAccessLog_LogFormat:
				format = af.LogFormat
			case *filev3.FileAccessLog_Format:
				format = &corev3.SubstitutionFormatString{Format: &corev3.SubstitutionFormatString_TextFormat{TextFormat: af.Format}}
			case *filev3.FileAccessLog_JsonFormat:
				format = &corev3.SubstitutionFormatString{Format: &corev3.SubstitutionFormatString_JsonFormat{JsonFormat: af.JsonFormat}}
			case *filev3.FileAccessLog_TypedJsonFormat:
				format = &corev3.SubstitutionFormatString{Format: &corev3.SubstitutionFormatString_JsonFormat{JsonFormat: af.TypedJsonFormat}}
			}
		case stdoutLogType, stderrLogType:
			var f streamv3.StdoutAccessLog
			if err := tc.UnmarshalTo(&f); err != nil {
				var e streamv3.StderrAccessLog
				if err2 := tc.UnmarshalTo(&e); err2 != nil {
					return nil, err
				}
				format = e.GetLogFormat()
			} else {
				format = f.GetLogFormat()
			}
			spec.path = "/dev/stdout"
			if tc.GetTypeUrl() == stderrLogType {
				spec.path = "/dev/stderr"
			}
		default:
			return nil, fmt.Errorf("access log %q: type %s is not supported", l.GetName(), tc.GetTypeUrl())
		}
		if err := spec.compileFormat(format); err != nil {
			return nil, fmt.Errorf("access log %q: %v", l.GetName(), err)
		}
		if l.GetFilter() != nil {
			f, err := CompileFilter(l.GetFilter())
			if err != nil {
				return nil, fmt.Errorf("access log %q: %v", l.GetName(), err)
			}
			spec.filter = f
		}
		out = append(out, spec)
	}
	return out, nil
}

func (spec *Spec) compileFormat(f *corev3.SubstitutionFormatString) error {
	if f == nil {
		var err error
		spec.text, err = parseLogFormat(defaultLogFormat)
		return err
	}
	if err := xdsconf.CheckFields("log_format", f, "text_format", "json_format", "text_format_source", "omit_empty_values", "content_type", "json_format_options"); err != nil {
		return err
	}
	switch x := f.GetFormat().(type) {
	case *corev3.SubstitutionFormatString_TextFormat:
		return spec.setText(x.TextFormat)
	case *corev3.SubstitutionFormatString_TextFormatSource:
		s, err := xdsconf.ReadDataSource(x.TextFormatSource)
		if err != nil {
			return err
		}
		return spec.setText(s)
	case *corev3.SubstitutionFormatString_JsonFormat:
		spec.json = map[string][]logCmd{}
		for k, v := range x.JsonFormat.GetFields() {
			sv, ok := v.GetKind().(*structpb.Value_StringValue)
			if !ok {
				return fmt.Errorf("json_format key %q: only string values are supported", k)
			}
			cmds, err := parseLogFormat(sv.StringValue)
			if err != nil {
				return err
			}
			spec.json[k] = cmds
			kb, _ := json.Marshal(k)
			spec.fields = append(spec.fields, jsonField{name: k, key: string(kb) + ":", cmds: cmds,
				numeric: len(cmds) == 1 && numericCmds[cmds[0].name]})
		}
		sort.Slice(spec.fields, func(i, j int) bool { return spec.fields[i].name < spec.fields[j].name })
	}
	return nil
}

func (spec *Spec) setText(s string) error {
	cmds, err := parseLogFormat(s)
	spec.text = cmds
	return err
}

// render formats the line: text as Envoy writes it ("-" for empty values),
// or JSON with sorted keys, numbers for numeric commands and null for
// empty values. It appends to dst so that the logger can reuse buffers:
// this runs once per request and was a sixth of the proxy's CPU.
func (spec *Spec) render(dst []byte, info *streaminfo.StreamInfo) []byte {
	if spec.json == nil {
		for i := range spec.text {
			c := &spec.text[i]
			if c.name == "" {
				dst = append(dst, c.lit...)
				continue
			}
			dst = c.appendText(dst, info)
		}
		return dst
	}
	dst = append(dst, '{')
	for i := range spec.fields {
		f := &spec.fields[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, f.key...)
		if len(f.cmds) == 1 && f.cmds[0].name != "" {
			if f.numeric {
				if d, ok := f.cmds[0].appendFast(dst, info); ok {
					dst = d
					continue
				}
			} else if f.cmds[0].op == opStartTime {
				d, ok := f.cmds[0].appendFast(append(dst, '"'), info)
				if ok {
					dst = append(d, '"')
					continue
				}
				dst = d[:len(d)-1] // drop the quote: not ours to render
			}
			v := f.cmds[0].value(info)
			switch {
			case v == "":
				dst = append(dst, "null"...)
			case f.numeric:
				dst = append(dst, v...)
			default:
				dst = appendJSONString(dst, v)
			}
			continue
		}
		var s strings.Builder
		for i := range f.cmds {
			c := &f.cmds[i]
			if c.name == "" {
				s.WriteString(c.lit)
			} else {
				s.WriteString(orDash(c.value(info)))
			}
		}
		dst = appendJSONString(dst, s.String())
	}
	return append(dst, "}\n"...)
}
