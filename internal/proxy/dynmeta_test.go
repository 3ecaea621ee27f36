package proxy

import (
	"net/http/httptest"
	"testing"
)

// %DYNAMIC_METADATA(NS:KEY)% in a header value renders what a filter (an
// external processor, a Lua script) put in the request's dynamic metadata.
func TestDynamicMetadataHeaderValue(t *testing.T) {
	md := map[string]map[string]any{"io.envoyproxy.gateway.e2e": {"ext-proc-emitted-metadata": "received", "n": 3.0,
		"nested": map[string]any{"k": "v"}}}
	r := httptest.NewRequest("GET", "/", nil)
	for in, want := range map[string]string{
		"%DYNAMIC_METADATA(io.envoyproxy.gateway.e2e:ext-proc-emitted-metadata)%": "received",
		"x-%DYNAMIC_METADATA(io.envoyproxy.gateway.e2e:n)%":                       "x-3",
		"%DYNAMIC_METADATA(io.envoyproxy.gateway.e2e:nested:k)%":                  "v",
		"%DYNAMIC_METADATA(io.envoyproxy.gateway.e2e:missing)%":                   "",
		"%DYNAMIC_METADATA(other.ns:k)%":                                          "",
	} {
		f, err := compileValueFmt(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := f.render(r, md); got != want {
			t.Errorf("%s = %q, want %q", in, got, want)
		}
		if got := f.render(r, nil); got != "" && got != "x-" {
			t.Errorf("%s without metadata = %q", in, got)
		}
	}
	if _, err := compileValueFmt("%DYNAMIC_METADATA(nokey)%"); err == nil {
		t.Error("a namespace without a key must be refused")
	}
}
