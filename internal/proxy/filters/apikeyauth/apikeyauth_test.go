package apikeyauth

import (
	"net/http"
	"net/http/httptest"
	"testing"

	apikeyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/api_key_auth/v3"

	"github.com/portico-gw/portico/internal/proxy/filters/filtertest"
)

func TestAPIKeys(t *testing.T) {
	creds := []*apikeyv3.Credential{{Key: "key1", Client: "client1"}, {Key: "key2", Client: "client2"}}
	sources := []*apikeyv3.KeySource{{Header: "x-api-key"}, {Query: "api_key"}}
	pr, err := compile(creds, sources, []string{"client1"}, &apikeyv3.Forwarding{Header: "x-client-id", HideCredentials: true})
	if err != nil {
		t.Fatal(err)
	}
	f := &Filter{name: "envoy.filters.http.api_key_auth", cfg: &config{}}
	cases := []struct {
		name   string
		header string
		url    string
		code   int
		body   string
	}{
		{"header", "key1", "/", 200, ""},
		{"query", "", "/?api_key=key1", 200, ""},
		{"missing", "", "/", 401, msgUnauthenticated},
		{"unknown", "nope", "/", 401, msgUnauthenticated},
		{"client not allowed", "key2", "/", 403, msgForbidden},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "http://x"+c.url, nil)
			if c.header != "" {
				r.Header.Set("X-Api-Key", c.header)
			}
			res := filtertest.Run(f, r, filtertest.Options{PerRoute: map[string]any{f.name: pr}})
			if res.Code != c.code || res.Body != c.body {
				t.Fatalf("%d %q", res.Code, res.Body)
			}
			if c.code == 200 {
				fw := res.Forwarded
				if fw.Header.Get("X-Client-Id") != "client1" || fw.Header.Get("X-Api-Key") != "" || fw.URL.Query().Get("api_key") != "" {
					t.Fatalf("forwarding: %v %s", fw.Header, fw.URL)
				}
			}
		})
	}
	if _, err := compile([]*apikeyv3.Credential{{Key: "a", Client: "x"}, {Key: "a", Client: "y"}}, sources, nil, nil); err == nil {
		t.Fatal("duplicated key accepted")
	}
}
