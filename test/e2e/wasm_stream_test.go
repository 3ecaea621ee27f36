package e2e

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/proxy/filters/wasm/wasmtest"
)

// echoLinesBackend answers each line of the request body as it arrives,
// over h2c: a bidirectional exchange, as a gRPC bidi stream is.
func echoLinesBackend(t *testing.T) int {
	t.Helper()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-lines")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		in := bufio.NewReader(r.Body)
		for {
			line, err := in.ReadString('\n')
			if line != "" {
				_, _ = io.WriteString(w, "echo "+line)
				w.(http.Flusher).Flush()
			}
			if err != nil {
				return
			}
		}
	})
	return serveH2C(t, h, false)
}

// A bidirectional exchange through a Wasm route completes: the client
// sends a message, waits for its answer, then sends the next. The Go
// plugin has proxy_on_request_body, so this needs the request body to
// stream through the plugin rather than be read whole before the request
// goes upstream (which waits for an end the client never sends).
func TestWasmBidirectionalStream(t *testing.T) {
	code := wasmtest.Build(t, "header")
	o := newOrigin(t, map[string][]byte{"header.wasm": code})
	bp := echoLinesBackend(t)
	gw := freePort(t)
	e := startWithOptions(t, nil, map[string]string{
		"gateway.yaml": gatewayYAML(gw, 0, map[string]int{"backend": bp}) + h2cService("echo", bp),
		"route.yaml":   namedRouteYAML("bidi", "bidi.example.com", "echo", bp),
		"policy.yaml":  wasmPolicy("bidi-header", "bidi", o.url("header.wasm"), sha(code), "", ""),
	}, gw, fastFetch)
	h2c := &http.Client{Transport: &http.Transport{Protocols: new(http.Protocols)}}
	h2c.Transport.(*http.Transport).Protocols.SetUnencryptedHTTP2(true)
	defer h2c.CloseIdleConnections()
	url := "http://127.0.0.1:" + itoa(gw) + "/chat"
	e.eventually("the plugin on the route", func() bool {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Host = "bidi.example.com"
		resp, err := h2c.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.Header.Get("X-Wasm-Custom") == "FOO"
	})

	// The deadline only turns a hang into a failure.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pr, pw := io.Pipe()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, pr)
	req.Host = "bidi.example.com"
	// The answer's headers come with its first message (the plugin has a
	// response body callback): the first message goes with the request.
	go func() { _, _ = io.WriteString(pw, "one\n") }()
	resp, err := h2c.Do(req)
	if err != nil {
		t.Fatalf("the response never started: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Wasm-Custom") != "FOO" || resp.ProtoMajor != 2 {
		t.Fatalf("%s %v", resp.Status, resp.Header)
	}
	in := bufio.NewReader(resp.Body)
	for _, msg := range []string{"one", "two", "three"} {
		if msg != "one" {
			if _, err := io.WriteString(pw, msg+"\n"); err != nil {
				t.Fatal(err)
			}
		}
		line, err := in.ReadString('\n')
		if err != nil || line != "echo "+msg+"\n" {
			t.Fatalf("answer to %q: %q %v", msg, line, err)
		}
	}
	_ = pw.Close()
	if rest, err := io.ReadAll(in); err != nil || len(rest) != 0 {
		t.Fatalf("after the end: %q %v", rest, err)
	}
}

// A local reply from a body callback, once the request went upstream, is
// the answer while nothing of the response went out (the upstream request
// is reset), and resets the stream after.
func TestWasmBodyLocalReplyMidStream(t *testing.T) {
	code := wasmtest.Build(t, "auth")
	o := newOrigin(t, map[string][]byte{"auth.wasm": code})
	bp := echoLinesBackend(t)
	gw := freePort(t)
	e := startWithOptions(t, nil, map[string]string{
		"gateway.yaml": gatewayYAML(gw, 0, map[string]int{"backend": bp}) + h2cService("echo", bp),
		"route.yaml":   namedRouteYAML("bidi", "bidi.example.com", "echo", bp),
		"policy.yaml":  wasmPolicy("bidi-auth", "bidi", o.url("auth.wasm"), sha(code), "", ""),
	}, gw, fastFetch)
	url := "http://127.0.0.1:" + itoa(gw) + "/chat"
	post := func(body io.Reader) (*http.Response, error) {
		req, _ := http.NewRequest(http.MethodPost, url, body)
		req.Host = "bidi.example.com"
		req.Header.Set("Authorization", "Bearer letmein")
		return e.client.Do(req)
	}
	e.eventually("the plugin on the route", func() bool {
		resp, err := post(strings.NewReader("hi\n"))
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.Header.Get("X-Wasm-Props") != ""
	})
	resp, err := post(strings.NewReader("deny\n"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || string(b) != "denied by wasm body" || resp.Header.Get("X-Denied-By") != "wasm-body" {
		t.Fatalf("%s %q %v", resp.Status, b, resp.Header)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pr, pw := io.Pipe()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, pr)
	req.Host = "bidi.example.com"
	req.Header.Set("Authorization", "Bearer letmein")
	go func() { _, _ = io.WriteString(pw, "hello\n") }()
	resp, err = e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	in := bufio.NewReader(resp.Body)
	if line, err := in.ReadString('\n'); err != nil || line != "echo hello\n" {
		t.Fatalf("%s: %q %v", resp.Status, line, err)
	}
	_, _ = io.WriteString(pw, "deny\n")
	if rest, err := io.ReadAll(in); err == nil {
		t.Fatalf("the stream ended normally after the reply (%q): want a reset", rest)
	}
}
