package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/portico-gw/portico/internal/proxy/filters/wasm/wasmtest"
)

// trailerBackend reads the request to its end and answers, chunked, with
// the body it got and gRPC-style response trailers: grpc-status and what
// it saw of the request trailers (x-upstream-saw). It speaks HTTP/1.1 and
// h2c (prior knowledge), as a gRPC server would.
func trailerBackend(t *testing.T) int {
	t.Helper()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Trailer", "Grpc-Status, X-Upstream-Saw")
		w.Header().Set("Content-Type", "application/grpc")
		w.Header().Set("X-Backend-Proto", r.Proto)
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(b)
		w.(http.Flusher).Flush()
		w.Header().Set("Grpc-Status", "0")
		w.Header().Set("X-Upstream-Saw", r.Trailer.Get("X-Checksum")+","+r.Trailer.Get("X-Wasm-Seen"))
	})
	return serveH2C(t, h, true)
}

// serveH2C serves h on a loopback port with HTTP/2 over cleartext (prior
// knowledge), and HTTP/1.1 too when http1 is set; it returns the port.
func serveH2C(t *testing.T, h http.Handler, http1 bool) int {
	t.Helper()
	s := httptest.NewUnstartedServer(h)
	s.Config.Protocols = new(http.Protocols)
	s.Config.Protocols.SetHTTP1(http1)
	s.Config.Protocols.SetUnencryptedHTTP2(true)
	s.Start()
	t.Cleanup(s.Close)
	return s.Listener.Addr().(*net.TCPAddr).Port
}

// h2cService is a Service whose port speaks h2c (kubernetes.io/h2c), so
// the proxy talks HTTP/2 to it, as to a gRPC backend.
func h2cService(name string, port int) string {
	return fmt.Sprintf(`---
apiVersion: v1
kind: Service
metadata:
  name: %s
  namespace: default
spec:
  clusterIP: 127.0.0.1
  ports:
    - name: grpc
      port: %d
      targetPort: %d
      appProtocol: kubernetes.io/h2c
`, name, port, port)
}

// sendWithTrailer posts a chunked body with the trailer x-checksum: abc.
func (e *env) sendWithTrailer(client *http.Client, host string) (*http.Response, string, error) {
	req, err := http.NewRequest(http.MethodPost, fmt.Sprintf("http://127.0.0.1:%d/", e.gwPort), io.NopCloser(strings.NewReader("hello")))
	if err != nil {
		return nil, "", err
	}
	req.Host = host
	req.ContentLength = -1
	req.Trailer = http.Header{"X-Checksum": {"abc"}}
	resp, err := client.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), err
}

// TestWasmTrailers runs the trailers plugin on real streams with
// trailers, HTTP/1.1 chunked to an HTTP/1.1 backend and h2c to an h2c
// backend: the plugin reads the client's request trailer and adds its own
// (which the backend sees), writes the backend's response trailers, and
// its body callbacks are told end_of_stream=false because trailers
// follow, as Envoy does.
func TestWasmTrailers(t *testing.T) {
	code := wasmtest.Build(t, "trailers")
	o := newOrigin(t, map[string][]byte{"trailers.wasm": code})
	bp := trailerBackend(t)
	gw := freePort(t)
	e := startWithOptions(t, nil, map[string]string{
		"gateway.yaml":   gatewayYAML(gw, 0, map[string]int{"backend": bp}) + h2cService("grpc", bp),
		"h1-route.yaml":  namedRouteYAML("h1", "h1.example.com", "backend", bp),
		"h2-route.yaml":  namedRouteYAML("h2", "h2.example.com", "grpc", bp),
		"h1-policy.yaml": wasmPolicy("h1-trailers", "h1", o.url("trailers.wasm"), sha(code), "", ""),
		"h2-policy.yaml": wasmPolicy("h2-trailers", "h2", o.url("trailers.wasm"), sha(code), "", ""),
	}, gw, fastFetch)
	h2c := &http.Client{Transport: &http.Transport{Protocols: new(http.Protocols)}}
	h2c.Transport.(*http.Transport).Protocols.SetUnencryptedHTTP2(true)
	defer h2c.CloseIdleConnections()
	for _, c := range []struct {
		host, proto string
		client      *http.Client
	}{{"h1.example.com", "HTTP/1.1", e.client}, {"h2.example.com", "HTTP/2.0", h2c}} {
		e.eventually(c.host+" through the plugin", func() bool {
			resp, _, err := e.sendWithTrailer(c.client, c.host)
			return err == nil && resp.StatusCode == http.StatusOK && resp.Trailer.Get("X-Wasm-Trailer") == "added"
		})
		resp, body, err := e.sendWithTrailer(c.client, c.host)
		if err != nil {
			t.Fatal(err)
		}
		if body != "hello" || resp.Header.Get("X-Backend-Proto") != c.proto {
			t.Errorf("%s: body %q, backend proto %q", c.host, body, resp.Header.Get("X-Backend-Proto"))
		}
		want := map[string]string{
			"Grpc-Status":            "0",
			"X-Wasm-Grpc-Status":     "0",
			"X-Wasm-Trailer":         "added",
			"X-Wasm-Request-Trailer": "abc",
			"X-Upstream-Saw":         "abc,yes",
			"X-Wasm-Body-End":        "request=false response=false",
		}
		for k, v := range want {
			if got := resp.Trailer.Get(k); got != v {
				t.Errorf("%s: trailer %s = %q, want %q (all: %v)", c.host, k, got, v, resp.Trailer)
			}
		}
	}
}
