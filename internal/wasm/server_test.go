package wasm

import (
	"context"
	"net"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/portico-gw/portico/internal/certs"
)

// TestServeRequiresTheProxyCertificate: with the control plane's TLS the
// wasm port answers a proxy holding the CA-signed certificate (over
// HTTP/2, as wasm_cluster speaks) and nothing to a client without one.
func TestServeRequiresTheProxyCertificate(t *testing.T) {
	root := t.TempDir()
	if _, err := certs.Ensure(root, certs.Options{}); err != nil {
		t.Fatal(err)
	}
	source := func(name string) *certs.Source {
		s, err := certs.NewSource(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := NewStore(ctx, StoreOptions{Fetcher: quick, Cache: &Cache{Dir: t.TempDir()}})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ctx, l, certs.ServerConfig(source(certs.ControlPlane)))
	url := "https://" + l.Addr().String() + "/unknown.wasm"

	proxy := &http.Transport{TLSClientConfig: certs.ClientConfig(source(certs.Proxy), certs.ControlPlane), ForceAttemptHTTP2: true}
	resp, err := (&http.Client{Transport: proxy}).Get(url)
	if err != nil {
		t.Fatalf("the proxy's certificate: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || resp.ProtoMajor != 2 {
		t.Fatalf("got %s over %s, want 404 over HTTP/2", resp.Status, resp.Proto)
	}
	stranger := &http.Transport{TLSClientConfig: certs.ClientConfig(source(certs.Proxy), certs.ControlPlane).Clone()}
	stranger.TLSClientConfig.GetClientCertificate = nil
	if resp, err := (&http.Client{Transport: stranger}).Get(url); err == nil {
		resp.Body.Close()
		t.Fatalf("a client without a certificate got %s", resp.Status)
	}
}
