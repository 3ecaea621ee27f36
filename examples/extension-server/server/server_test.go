package server_test

import (
	"crypto/sha1" //nolint:gosec // the {SHA} htpasswd format
	"encoding/base64"
	"os"
	"testing"

	basicauthv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/basic_auth/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"

	"github.com/portico-gw/portico/examples/extension-server/server"
	sdk "github.com/portico-gw/portico/pkg/extension"
	"github.com/portico-gw/portico/pkg/extension/extensiontest"
)

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestScenario runs the guide's input through a Portico translation with
// the example server (pkg/extension/extensiontest).
func TestScenario(t *testing.T) {
	res := extensiontest.Translate(t, read(t, "../example.yaml"), extensiontest.Options{
		Server: &server.Server{}, Config: read(t, "../envoy-gateway.yaml"),
	})
	if len(res.Errors) > 0 || len(res.Problems) > 0 {
		t.Fatalf("errors %v problems %v", res.Errors, res.Problems)
	}
	l := res.Fleet(t, "default/eg").Listener(t, "default/eg/http")
	sum := sha1.Sum([]byte("p@ssw0rd")) //nolint:gosec // see import
	want := "user:{SHA}" + base64.StdEncoding.EncodeToString(sum[:]) + "\n"
	n, err := sdk.EditHCM(l, func(h *hcmv3.HttpConnectionManager) error {
		fs := h.GetHttpFilters()
		if len(fs) < 2 || fs[len(fs)-2].GetName() != server.FilterName || fs[len(fs)-1].GetName() != "envoy.filters.http.router" {
			t.Fatalf("filters %v", fs)
		}
		var ba basicauthv3.BasicAuth
		if err := fs[len(fs)-2].GetTypedConfig().UnmarshalTo(&ba); err != nil {
			t.Fatal(err)
		}
		if ba.GetUsers().GetInlineString() != want || ba.GetForwardUsernameHeader() != server.UsernameHeader {
			t.Errorf("basic_auth %v", &ba)
		}
		return nil
	})
	if err != nil || n != 1 {
		t.Fatal(n, err)
	}
}

// TestNoPolicy: without a ListenerContextExample the filter has no users,
// so every request is refused (the guide's first curl).
func TestNoPolicy(t *testing.T) {
	in := read(t, "../example.yaml")
	in = in[:len(in)-len(in[indexOf(in, "---\napiVersion: example.extensions.io"):])]
	res := extensiontest.Translate(t, in, extensiontest.Options{Server: &server.Server{}, Config: read(t, "../envoy-gateway.yaml")})
	if len(res.Errors) > 0 {
		t.Fatal(res.Errors)
	}
	_, err := sdk.EditHCM(res.Fleet(t, "default/eg").Listener(t, "default/eg/http"), func(h *hcmv3.HttpConnectionManager) error {
		var ba basicauthv3.BasicAuth
		fs := h.GetHttpFilters()
		if err := fs[len(fs)-2].GetTypedConfig().UnmarshalTo(&ba); err != nil {
			t.Fatal(err)
		}
		if ba.GetUsers().GetInlineString() != "" {
			t.Errorf("users %q", ba.GetUsers().GetInlineString())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}
