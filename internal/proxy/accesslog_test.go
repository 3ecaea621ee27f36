package proxy_test

import (
	"encoding/json"
	"google.golang.org/protobuf/types/known/durationpb"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	filev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/file/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/types/known/structpb"
)

// HCM access_log entries are honoured: Envoy Gateway's JSON format to a
// file, and a filtered text log (only NR) to stdout.
func TestConfiguredAccessLogs(t *testing.T) {
	h := newHarness(t)
	port := freePort(t)
	path := filepath.Join(t.TempDir(), "access.log")
	jsonFmt, _ := structpb.NewStruct(map[string]any{
		"start_time": "%START_TIME%", "method": "%REQ(:METHOD)%", "x-envoy-origin-path": "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%",
		"response_code": "%RESPONSE_CODE%", "response_flags": "%RESPONSE_FLAGS%", "upstream_cluster": "%UPSTREAM_CLUSTER%",
		"route_name": "%ROUTE_NAME%", "x-forwarded-for": "%REQ(X-FORWARDED-FOR)%", "duration": "%DURATION%",
	})
	logs := []*accesslogv3.AccessLog{
		{Name: "envoy.access_loggers.file", ConfigType: &accesslogv3.AccessLog_TypedConfig{TypedConfig: mustAny(&filev3.FileAccessLog{
			Path: path, AccessLogFormat: &filev3.FileAccessLog_LogFormat{LogFormat: &corev3.SubstitutionFormatString{
				Format: &corev3.SubstitutionFormatString_JsonFormat{JsonFormat: jsonFmt}}}})}},
		{Name: "envoy.access_loggers.file", Filter: &accesslogv3.AccessLogFilter{FilterSpecifier: &accesslogv3.AccessLogFilter_ResponseFlagFilter{
			ResponseFlagFilter: &accesslogv3.ResponseFlagFilter{Flags: []string{"NR"}}}},
			ConfigType: &accesslogv3.AccessLog_TypedConfig{TypedConfig: mustAny(&filev3.FileAccessLog{
				Path: "/dev/stdout", AccessLogFormat: &filev3.FileAccessLog_LogFormat{LogFormat: &corev3.SubstitutionFormatString{
					Format: &corev3.SubstitutionFormatString_TextFormat{TextFormat: "NR %REQ(:PATH)% %RESPONSE_CODE_DETAILS%\n"}}}})}},
	}
	rc := simpleRoutes("a")
	rc.VirtualHosts[0].Routes[0].Name = "r0"
	rc.VirtualHosts[0].Routes[0].Match = prefix("/ok")
	res := basic(port, rc, map[string][]string{"a": {backend(t, "a")}})
	res[resourcev3.ListenerType][0] = listener("l", port, "rc", func(m *hcmv3.HttpConnectionManager) { m.AccessLog = logs })
	h.pushAndWait(t, res)
	get(t, port, "x", "/ok")
	get(t, port, "x", "/missing")
	// File logs are buffered as Envoy's are: the lines arrive within the
	// flush interval.
	var b []byte
	var lines []string
	for deadline := time.Now().Add(10 * time.Second); len(lines) < 2 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		b, _ = os.ReadFile(path)
		lines = strings.Split(strings.TrimSpace(string(b)), "\n")
	}
	if len(lines) != 2 {
		t.Fatalf("json log lines: %q", b)
	}
	var first map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	if first["response_code"] != float64(200) || first["upstream_cluster"] != "a" || first["route_name"] != "r0" ||
		first["x-envoy-origin-path"] != "/ok" || first["response_flags"] != nil || first["method"] != "GET" {
		t.Errorf("json line: %s", lines[0])
	}
	if st, _ := first["start_time"].(string); len(st) != len("2006-01-02T15:04:05.000Z") || !strings.HasSuffix(st, "Z") {
		t.Errorf("json start_time: %s", lines[0])
	}
	if d, ok := first["duration"].(float64); !ok || d < 0 {
		t.Errorf("json duration: %s", lines[0])
	}
	if got := h.log.String(); got != "NR /missing route_not_found\n" {
		t.Errorf("filtered stdout log: %q", got)
	}
}

// The access log sees the request headers as the router finalized them,
// as Envoy's does: route additions and removals, and the router's own
// x-envoy-* headers, are in %REQ()%.
func TestAccessLogSeesFinalizedRequestHeaders(t *testing.T) {
	h := newHarness(t)
	port := freePort(t)
	logs := []*accesslogv3.AccessLog{{Name: "envoy.access_loggers.file", ConfigType: &accesslogv3.AccessLog_TypedConfig{
		TypedConfig: mustAny(&filev3.FileAccessLog{Path: "/dev/stdout", AccessLogFormat: &filev3.FileAccessLog_LogFormat{
			LogFormat: &corev3.SubstitutionFormatString{Format: &corev3.SubstitutionFormatString_TextFormat{
				TextFormat: "%REQ(X-ROUTE)% %REQ(X-GONE)% %REQ(X-ENVOY-EXPECTED-RQ-TIMEOUT-MS)%\n"}}}})}}}
	rc := simpleRoutes("a")
	ra := rc.VirtualHosts[0].Routes[0].GetRoute()
	ra.Timeout = durationpb.New(3 * time.Second)
	rc.VirtualHosts[0].Routes[0].RequestHeadersToAdd = []*corev3.HeaderValueOption{hv("x-route", "added", corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD)}
	rc.VirtualHosts[0].Routes[0].RequestHeadersToRemove = []string{"x-gone"}
	res := basic(port, rc, map[string][]string{"a": {backend(t, "a")}})
	res[resourcev3.ListenerType][0] = listener("l", port, "rc", func(m *hcmv3.HttpConnectionManager) { m.AccessLog = logs })
	h.pushAndWait(t, res)
	req, _ := http.NewRequest("GET", "http://127.0.0.1:"+itoa(port)+"/", nil)
	req.Header.Set("X-Gone", "sent by the client")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := h.log.String(); got != "added - 3000\n" {
		t.Errorf("access log line %q, want %q", got, "added - 3000\n")
	}
}
