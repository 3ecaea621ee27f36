package proxy

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/portico-gw/portico/internal/proxy/match"
)

// replyInfo is what local_reply_config filters and formats look at.
type replyInfo struct {
	code    int
	body    string
	details string
	flags   string
	req     *http.Request
	start   time.Time
}

type replyFilter func(ri *replyInfo) bool

type mapper struct {
	filter  replyFilter
	status  int
	body    *string
	format  *bodyFormat
	headers headerOps
}

// localReplyCfg is the HCM's compiled local_reply_config.
type localReplyCfg struct {
	mappers []mapper
	format  *bodyFormat
}

// bodyFormat is a SubstitutionFormatString for local reply bodies.
type bodyFormat struct {
	text        string
	json        *structpb.Struct
	contentType string
}

var bodyCmd = regexp.MustCompile(`%([A-Z_]+)(?:\(([^)]*)\))?%`)

var bodyCmds = map[string]bool{"LOCAL_REPLY_BODY": true, "RESPONSE_CODE": true, "RESPONSE_CODE_DETAILS": true,
	"RESPONSE_FLAGS": true, "REQ": true, "PROTOCOL": true, "START_TIME": true}

func checkCmds(s string) error {
	for _, m := range bodyCmd.FindAllStringSubmatch(s, -1) {
		if !bodyCmds[m[1]] {
			return fmt.Errorf("format command %%%s%% is not supported", m[1])
		}
	}
	return nil
}

func compileBodyFormat(f *corev3.SubstitutionFormatString) (*bodyFormat, error) {
	if f == nil {
		return nil, nil
	}
	if err := checkFields("body_format", f, "text_format", "json_format", "text_format_source", "content_type", "omit_empty_values"); err != nil {
		return nil, err
	}
	bf := &bodyFormat{contentType: f.GetContentType()}
	switch x := f.GetFormat().(type) {
	case *corev3.SubstitutionFormatString_TextFormat:
		bf.text = x.TextFormat
	case *corev3.SubstitutionFormatString_TextFormatSource:
		s, err := readDataSource(x.TextFormatSource)
		if err != nil {
			return nil, err
		}
		bf.text = s
	case *corev3.SubstitutionFormatString_JsonFormat:
		bf.json = x.JsonFormat
		b, _ := json.Marshal(x.JsonFormat.AsMap())
		if err := checkCmds(string(b)); err != nil {
			return nil, err
		}
		if bf.contentType == "" {
			bf.contentType = "application/json"
		}
		return bf, nil
	}
	if err := checkCmds(bf.text); err != nil {
		return nil, err
	}
	if bf.contentType == "" {
		bf.contentType = "text/plain"
	}
	return bf, nil
}

func (bf *bodyFormat) render(ri *replyInfo) string {
	sub := func(s string) string {
		return bodyCmd.ReplaceAllStringFunc(s, func(m string) string {
			p := bodyCmd.FindStringSubmatch(m)
			switch p[1] {
			case "LOCAL_REPLY_BODY":
				return ri.body
			case "RESPONSE_CODE":
				return strconv.Itoa(ri.code)
			case "RESPONSE_CODE_DETAILS":
				return ri.details
			case "RESPONSE_FLAGS":
				return orDash(ri.flags)
			case "PROTOCOL":
				return ri.req.Proto
			case "START_TIME":
				return ri.start.UTC().Format("2006-01-02T15:04:05.000Z")
			case "REQ":
				name, _, _ := strings.Cut(p[2], "?")
				v, ok := reqHeader(ri.req, name)
				if !ok {
					return "-"
				}
				return v
			}
			return m
		})
	}
	if bf.json != nil {
		out := map[string]any{}
		for k, v := range bf.json.AsMap() {
			if s, ok := v.(string); ok {
				out[k] = sub(s)
			} else {
				out[k] = v
			}
		}
		b, _ := json.Marshal(out)
		return string(b) + "\n"
	}
	return sub(bf.text)
}

func compileLocalReply(c *hcmv3.LocalReplyConfig) (*localReplyCfg, error) {
	if c == nil {
		return nil, nil
	}
	lr := &localReplyCfg{}
	var err error
	if lr.format, err = compileBodyFormat(c.GetBodyFormat()); err != nil {
		return nil, fmt.Errorf("local_reply_config: %v", err)
	}
	for i, m := range c.GetMappers() {
		var mp mapper
		if mp.filter, err = compileReplyFilter(m.GetFilter()); err != nil {
			return nil, fmt.Errorf("local_reply_config mapper %d: %v", i, err)
		}
		if m.GetStatusCode() != nil {
			mp.status = int(m.GetStatusCode().GetValue())
		}
		if m.GetBody() != nil {
			b, err := readDataSource(m.GetBody())
			if err != nil {
				return nil, err
			}
			mp.body = &b
		}
		if mp.format, err = compileBodyFormat(m.GetBodyFormatOverride()); err != nil {
			return nil, fmt.Errorf("local_reply_config mapper %d: %v", i, err)
		}
		if mp.headers, err = compileHeaderOps(m.GetHeadersToAdd(), nil); err != nil {
			return nil, fmt.Errorf("local_reply_config mapper %d: %v", i, err)
		}
		lr.mappers = append(lr.mappers, mp)
	}
	return lr, nil
}

func compare(op accesslogv3.ComparisonFilter_Op, got, want int64) bool {
	switch op {
	case accesslogv3.ComparisonFilter_GE:
		return got >= want
	case accesslogv3.ComparisonFilter_LE:
		return got <= want
	default:
		return got == want
	}
}

// compileReplyFilter compiles the AccessLogFilter kinds that make sense for
// a local reply; the rest NACK by name.
func compileReplyFilter(f *accesslogv3.AccessLogFilter) (replyFilter, error) {
	if f == nil {
		return nil, fmt.Errorf("filter is required")
	}
	switch x := f.GetFilterSpecifier().(type) {
	case *accesslogv3.AccessLogFilter_StatusCodeFilter:
		c := x.StatusCodeFilter.GetComparison()
		op, want := c.GetOp(), int64(c.GetValue().GetDefaultValue())
		return func(ri *replyInfo) bool { return compare(op, int64(ri.code), want) }, nil
	case *accesslogv3.AccessLogFilter_DurationFilter:
		c := x.DurationFilter.GetComparison()
		op, want := c.GetOp(), int64(c.GetValue().GetDefaultValue())
		return func(ri *replyInfo) bool { return compare(op, time.Since(ri.start).Milliseconds(), want) }, nil
	case *accesslogv3.AccessLogFilter_NotHealthCheckFilter:
		return func(ri *replyInfo) bool { return !strings.HasPrefix(ri.details, "health_check") }, nil
	case *accesslogv3.AccessLogFilter_HeaderFilter:
		hm, err := match.CompileHeader(x.HeaderFilter.GetHeader())
		if err != nil {
			return nil, err
		}
		return func(ri *replyInfo) bool { return hm.Match(ri.req) }, nil
	case *accesslogv3.AccessLogFilter_ResponseFlagFilter:
		flags := x.ResponseFlagFilter.GetFlags()
		return func(ri *replyInfo) bool {
			if ri.flags == "" {
				return false
			}
			if len(flags) == 0 {
				return true
			}
			for _, f := range flags {
				for _, g := range strings.Split(ri.flags, ",") {
					if f == g {
						return true
					}
				}
			}
			return false
		}, nil
	case *accesslogv3.AccessLogFilter_AndFilter, *accesslogv3.AccessLogFilter_OrFilter:
		var subs []*accesslogv3.AccessLogFilter
		and := false
		if a, ok := x.(*accesslogv3.AccessLogFilter_AndFilter); ok {
			subs, and = a.AndFilter.GetFilters(), true
		} else {
			subs = x.(*accesslogv3.AccessLogFilter_OrFilter).OrFilter.GetFilters()
		}
		var fs []replyFilter
		for _, s := range subs {
			fn, err := compileReplyFilter(s)
			if err != nil {
				return nil, err
			}
			fs = append(fs, fn)
		}
		return func(ri *replyInfo) bool {
			for _, fn := range fs {
				if fn(ri) != and {
					return !and
				}
			}
			return and
		}, nil
	default:
		return nil, fmt.Errorf("access log filter %T is not supported in local_reply_config", x)
	}
}

// grpcStatusFor maps an HTTP status to a gRPC status as Envoy does for
// local replies to gRPC requests.
func grpcStatusFor(code int) int {
	switch code {
	case 400:
		return 13
	case 401:
		return 16
	case 403:
		return 7
	case 404:
		return 12
	case 429, 502, 503, 504:
		return 14
	}
	return 2
}
