package translator

import (
	"maps"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	filev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/file/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/portico-gw/portico/internal/ir"
)

const fileAccessLogName = "envoy.access_loggers.file"

// defaultJSONFields is Envoy Gateway's default JSON access log format.
var defaultJSONFields = map[string]string{
	":authority":                        "%REQ(:AUTHORITY)%",
	"bytes_received":                    "%BYTES_RECEIVED%",
	"bytes_sent":                        "%BYTES_SENT%",
	"connection_termination_details":    "%CONNECTION_TERMINATION_DETAILS%",
	"downstream_local_address":          "%DOWNSTREAM_LOCAL_ADDRESS%",
	"downstream_remote_address":         "%DOWNSTREAM_REMOTE_ADDRESS%",
	"duration":                          "%DURATION%",
	"method":                            "%REQ(:METHOD)%",
	"protocol":                          "%PROTOCOL%",
	"requested_server_name":             "%REQUESTED_SERVER_NAME%",
	"response_code":                     "%RESPONSE_CODE%",
	"response_code_details":             "%RESPONSE_CODE_DETAILS%",
	"response_flags":                    "%RESPONSE_FLAGS%",
	"route_name":                        "%ROUTE_NAME%",
	"start_time":                        "%START_TIME%",
	"upstream_cluster":                  "%UPSTREAM_CLUSTER%",
	"upstream_host":                     "%UPSTREAM_HOST%",
	"upstream_local_address":            "%UPSTREAM_LOCAL_ADDRESS%",
	"upstream_transport_failure_reason": "%UPSTREAM_TRANSPORT_FAILURE_REASON%",
	"user-agent":                        "%REQ(USER-AGENT)%",
	"x-envoy-origin-path":               "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%",
	"x-envoy-upstream-service-time":     "%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%",
	"x-forwarded-for":                   "%REQ(X-FORWARDED-FOR)%",
	"x-request-id":                      "%REQ(X-REQUEST-ID)%",
}

// defaultTextFormat is Envoy's default access log line.
const defaultTextFormat = "[%START_TIME%] \"%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%\" " +
	"%RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% " +
	"%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% \"%REQ(X-FORWARDED-FOR)%\" \"%REQ(USER-AGENT)%\" " +
	"\"%REQ(X-REQUEST-ID)%\" \"%REQ(:AUTHORITY)%\" \"%UPSTREAM_HOST%\"\n"

// accessLogs builds the file access logs of al. With listenerLevel, each
// gets the NR (no route) response flag filter Envoy Gateway puts on the
// listener-level copies.
func accessLogs(al *ir.AccessLog, listenerLevel bool) []*accesslogv3.AccessLog {
	if al == nil {
		return nil
	}
	var out []*accesslogv3.AccessLog
	for _, j := range al.JSON {
		if !logsAt(j.LogType, listenerLevel) {
			continue
		}
		fields := maps.Clone(defaultJSONFields)
		if len(j.JSON) > 0 {
			fields = j.JSON
		}
		st := &structpb.Struct{Fields: map[string]*structpb.Value{}}
		for k, v := range fields {
			st.Fields[k] = structpb.NewStringValue(v)
		}
		out = append(out, fileAccessLog(j.Path, &corev3.SubstitutionFormatString{
			Format: &corev3.SubstitutionFormatString_JsonFormat{JsonFormat: st},
		}, listenerLevel))
	}
	for _, t := range al.Text {
		if !logsAt(t.LogType, listenerLevel) {
			continue
		}
		format := defaultTextFormat
		if t.Format != nil {
			format = *t.Format
		}
		out = append(out, fileAccessLog(t.Path, &corev3.SubstitutionFormatString{
			Format: &corev3.SubstitutionFormatString_TextFormatSource{
				TextFormatSource: &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: format}},
			},
		}, listenerLevel))
	}
	return out
}

// logsAt reports whether a log of the given type (Listener, Route, or unset
// for both) belongs at the listener level or in the HTTP connection manager.
func logsAt(logType *string, listenerLevel bool) bool {
	if logType == nil {
		return true
	}
	return (*logType == "Listener") == listenerLevel
}

func fileAccessLog(path string, f *corev3.SubstitutionFormatString, listenerLevel bool) *accesslogv3.AccessLog {
	a := &accesslogv3.AccessLog{
		Name: fileAccessLogName,
		ConfigType: &accesslogv3.AccessLog_TypedConfig{TypedConfig: mustAny(&filev3.FileAccessLog{
			Path:            path,
			AccessLogFormat: &filev3.FileAccessLog_LogFormat{LogFormat: f},
		})},
	}
	if listenerLevel {
		a.Filter = &accesslogv3.AccessLogFilter{FilterSpecifier: &accesslogv3.AccessLogFilter_ResponseFlagFilter{
			ResponseFlagFilter: &accesslogv3.ResponseFlagFilter{Flags: []string{"NR"}},
		}}
	}
	return a
}
