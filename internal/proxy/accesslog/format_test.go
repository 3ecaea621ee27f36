package accesslog

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/portico-gw/portico/internal/proxy/streaminfo"
)

// egJSONFormat is Envoy Gateway's default JSON access log format.
var egJSONFormat = map[string]any{
	":authority": "%REQ(:AUTHORITY)%", "bytes_received": "%BYTES_RECEIVED%", "bytes_sent": "%BYTES_SENT%",
	"connection_termination_details": "%CONNECTION_TERMINATION_DETAILS%", "downstream_local_address": "%DOWNSTREAM_LOCAL_ADDRESS%",
	"downstream_remote_address": "%DOWNSTREAM_REMOTE_ADDRESS%", "duration": "%DURATION%", "method": "%REQ(:METHOD)%",
	"protocol": "%PROTOCOL%", "requested_server_name": "%REQUESTED_SERVER_NAME%", "response_code": "%RESPONSE_CODE%",
	"response_code_details": "%RESPONSE_CODE_DETAILS%", "response_flags": "%RESPONSE_FLAGS%", "route_name": "%ROUTE_NAME%",
	"start_time": "%START_TIME%", "upstream_cluster": "%UPSTREAM_CLUSTER%", "upstream_host": "%UPSTREAM_HOST%",
	"upstream_local_address": "%UPSTREAM_LOCAL_ADDRESS%", "upstream_transport_failure_reason": "%UPSTREAM_TRANSPORT_FAILURE_REASON%",
	"user-agent": "%REQ(USER-AGENT)%", "x-envoy-origin-path": "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%",
	"x-envoy-upstream-service-time": "%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%", "x-forwarded-for": "%REQ(X-FORWARDED-FOR)%",
	"x-request-id": "%REQ(X-REQUEST-ID)%",
}

// egJSONSpec is a log in Envoy Gateway's default JSON format.
func egJSONSpec(t testing.TB) *Spec {
	s, err := structpb.NewStruct(egJSONFormat)
	if err != nil {
		t.Fatal(err)
	}
	spec := &Spec{}
	if err := spec.compileFormat(&corev3.SubstitutionFormatString{Format: &corev3.SubstitutionFormatString_JsonFormat{JsonFormat: s}}); err != nil {
		t.Fatal(err)
	}
	return spec
}

// loggedRequest is a finished request as the access log sees it.
func loggedRequest() *streaminfo.StreamInfo {
	r := httptest.NewRequest("GET", "http://www.example.com/get?x=1", nil)
	r = r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 10080}))
	r.Header.Set("User-Agent", "curl/8.5.0")
	r.Header.Set("X-Forwarded-For", "10.0.0.1")
	r.Header.Set("X-Request-Id", "3c5a2e42-1b7f-4b0e-9d0c-6a1f2f1e9b33")
	return &streaminfo.StreamInfo{Request: r, Start: time.Now(), ResponseCode: 200, BytesSent: 128,
		ResponseHeader: http.Header{"X-Envoy-Upstream-Service-Time": {"1"}},
		UpstreamHost:   "127.0.0.1:3000", UpstreamCluster: "httproute/default/backend/rule/0", ResponseCodeDetails: "via_upstream",
		RouteName: "httproute/default/backend/rule/0/match/0/www_example_com"}
}

// BenchmarkRenderEGJSON renders Envoy Gateway's default JSON access log
// line, which the proxy does once per request.
//
//	go test ./internal/proxy/accesslog -run '^$' -bench RenderEGJSON -benchmem
func BenchmarkRenderEGJSON(b *testing.B) {
	spec := egJSONSpec(b)
	st := loggedRequest()
	buf := make([]byte, 0, 2048)
	b.ReportAllocs()
	for b.Loop() {
		buf = spec.render(buf[:0], st)
	}
}

// The millisecond memo never gives one millisecond's stamp to another.
func TestAppendStartTime(t *testing.T) {
	base := time.Date(2026, 11, 27, 12, 0, 0, 0, time.FixedZone("x", 3600))
	for _, d := range []time.Duration{0, 400 * time.Microsecond, time.Millisecond, 0, 1500 * time.Millisecond, 1999*time.Millisecond + 999*time.Microsecond, 2 * time.Second, time.Hour, 10 * time.Millisecond} {
		tm := base.Add(d)
		want := tm.UTC().Format(startTimeLayout)
		for i := 0; i < 2; i++ { // computed, then from the memo
			if got := string(appendStartTime([]byte("x"), tm)); got != "x"+want {
				t.Fatalf("%v: %q, want %q", tm, got, "x"+want)
			}
		}
	}
}

func TestAppendJSONStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", `q"uote`, `back\slash`, "<tag>&", "tab\there", "é", "\x7f", "\x00"} {
		want, _ := json.Marshal(s)
		if got := appendJSONString(nil, s); string(got) != string(want) {
			t.Errorf("%q: %s, want %s", s, got, want)
		}
	}
}

// localAddrString gives what net.Addr.String gives, memo or not.
func TestLocalAddrString(t *testing.T) {
	a := &net.TCPAddr{IP: net.ParseIP("10.0.0.1"), Port: 80}
	b := &net.TCPAddr{IP: net.ParseIP("10.0.0.2"), Port: 80}
	for _, x := range []*net.TCPAddr{a, a, b, a, {IP: net.ParseIP("fe80::1"), Port: 8, Zone: "eth0"}} {
		if got := localAddrString(x); got != x.String() {
			t.Errorf("localAddrString = %q, want %q", got, x.String())
		}
	}
}
