package accesslog

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"

	"github.com/portico-gw/portico/internal/proxy/match"
	"github.com/portico-gw/portico/internal/proxy/streaminfo"
)

// Filter decides whether a stream is logged (or a local reply mapped).
// Local reply mappers run before the reply goes out: its status is then
// the StreamInfo's ResponseCode.
type Filter func(info *streaminfo.StreamInfo) bool

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

// CompileFilter compiles an AccessLogFilter, for access logs and
// local_reply_config mappers alike. The kinds that need more than the
// stream's code, duration, details, flags and request headers NACK by
// name.
func CompileFilter(f *accesslogv3.AccessLogFilter) (Filter, error) {
	if f == nil {
		return nil, fmt.Errorf("filter is required")
	}
	switch x := f.GetFilterSpecifier().(type) {
	case *accesslogv3.AccessLogFilter_StatusCodeFilter:
		c := x.StatusCodeFilter.GetComparison()
		op, want := c.GetOp(), int64(c.GetValue().GetDefaultValue())
		return func(info *streaminfo.StreamInfo) bool { return compare(op, int64(info.ResponseCode), want) }, nil
	case *accesslogv3.AccessLogFilter_DurationFilter:
		c := x.DurationFilter.GetComparison()
		op, want := c.GetOp(), int64(c.GetValue().GetDefaultValue())
		return func(info *streaminfo.StreamInfo) bool {
			return compare(op, time.Since(info.Start).Milliseconds(), want)
		}, nil
	case *accesslogv3.AccessLogFilter_NotHealthCheckFilter:
		return func(info *streaminfo.StreamInfo) bool {
			return !strings.HasPrefix(info.ResponseCodeDetails, "health_check")
		}, nil
	case *accesslogv3.AccessLogFilter_HeaderFilter:
		hm, err := match.CompileHeader(x.HeaderFilter.GetHeader())
		if err != nil {
			return nil, err
		}
		return func(info *streaminfo.StreamInfo) bool {
			// A connection has no headers: Envoy's header filter then
			// matches an empty map.
			return info.Request != nil && hm.Match(info.Request) || info.Request == nil && hm.Match(emptyRequest)
		}, nil
	case *accesslogv3.AccessLogFilter_ResponseFlagFilter:
		flags := x.ResponseFlagFilter.GetFlags()
		return func(info *streaminfo.StreamInfo) bool {
			if info.ResponseFlags == "" {
				return false
			}
			if len(flags) == 0 {
				return true
			}
			for _, f := range flags {
				for _, g := range strings.Split(info.ResponseFlags, ",") {
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
		var fs []Filter
		for _, s := range subs {
			fn, err := CompileFilter(s)
			if err != nil {
				return nil, err
			}
			fs = append(fs, fn)
		}
		return func(info *streaminfo.StreamInfo) bool {
			for _, fn := range fs {
				if fn(info) != and {
					return !and
				}
			}
			return and
		}, nil
	default:
		return nil, fmt.Errorf("access log filter %T is not supported in local_reply_config", x)
	}
}

// emptyRequest is the header map a connection's log filters see.
var emptyRequest = &http.Request{Header: http.Header{}, URL: &url.URL{}}
