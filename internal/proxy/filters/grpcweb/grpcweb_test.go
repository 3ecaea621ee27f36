package grpcweb

import (
	"bytes"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	grpcwebv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/grpc_web/v3"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/portico-gw/portico/internal/proxy/filters"
	"github.com/portico-gw/portico/internal/proxy/filters/filtertest"
)

func newFilter(t *testing.T) filters.Filter {
	t.Helper()
	cfg, _ := anypb.New(&grpcwebv3.GrpcWeb{})
	f, ok := filters.Lookup(cfg.GetTypeUrl())
	if !ok {
		t.Fatal("grpc_web is not registered")
	}
	flt, err := f.New("envoy.filters.http.grpc_web", cfg, filters.BuildContext{})
	if err != nil {
		t.Fatal(err)
	}
	return flt
}

// grpcUpstream answers one message frame and grpc-status 0 in trailers,
// as the router leaves them (http.TrailerPrefix keys).
func grpcUpstream(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/grpc")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte{0, 0, 0, 0, 2, 'h', 'i'})
	w.Header()[http.TrailerPrefix+"Grpc-Status"] = []string{"0"}
	w.Header()[http.TrailerPrefix+"Grpc-Message"] = []string{"ok"}
}

func TestRequestAndResponseTranslation(t *testing.T) {
	frame := []byte{0, 0, 0, 0, 1, 'x'}
	cases := []struct {
		name, contentType, accept string
		body                      string
		wantCT                    string
		text                      bool
	}{
		{"binary", ctGRPCWeb, "", string(frame), ctGRPCWebProto, false},
		{"binary+proto", ctGRPCWebProto, "", string(frame), ctGRPCWebProto, false},
		{"text", ctGRPCWebText, ctGRPCWebText, base64.StdEncoding.EncodeToString(frame), ctGRPCWebTextProto, true},
		// A client that sends in pieces pads each of them.
		{"text in padded pieces", ctGRPCWebTextProto, ctGRPCWebTextProto,
			base64.StdEncoding.EncodeToString(frame[:4]) + base64.StdEncoding.EncodeToString(frame[4:]), ctGRPCWebTextProto, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/pkg.Svc/M", strings.NewReader(c.body))
			r.Header.Set("Content-Type", c.contentType)
			r.Header.Set("Content-Length", "99")
			if c.accept != "" {
				r.Header.Set("Accept", c.accept)
			}
			var sent []byte
			res := filtertest.Run(newFilter(t), r, filtertest.Options{Upstream: func(w http.ResponseWriter, up *http.Request) {
				sent, _ = io.ReadAll(up.Body)
				grpcUpstream(w, up)
			}})
			fw := res.Forwarded
			if fw.Header.Get("Content-Type") != "application/grpc" || fw.Header.Get("Te") != "trailers" ||
				fw.Header.Get("Grpc-Accept-Encoding") != grpcAcceptEncoding || fw.Header.Get("Content-Length") != "" {
				t.Fatalf("upstream request headers: %v", fw.Header)
			}
			if string(sent) != string(frame) {
				t.Fatalf("upstream body %q, want %q", sent, frame)
			}
			if res.Header.Get("Content-Type") != c.wantCT {
				t.Fatalf("response Content-Type %q", res.Header.Get("Content-Type"))
			}
			trailer := []byte{0x80, 0, 0, 0, 32}
			trailer = append(trailer, "grpc-status:0\r\ngrpc-message:ok\r\n"...)
			want := string([]byte{0, 0, 0, 0, 2, 'h', 'i'}) + string(trailer)
			if c.text {
				want = base64.StdEncoding.EncodeToString([]byte{0, 0, 0, 0, 2, 'h', 'i'}) + base64.StdEncoding.EncodeToString(trailer)
			}
			if res.Body != want {
				t.Fatalf("response body %q, want %q", res.Body, want)
			}
			for k := range res.Header {
				if strings.HasPrefix(k, http.TrailerPrefix) {
					t.Fatalf("trailer %s left as an HTTP trailer", k)
				}
			}
		})
	}
}

// A -text body that is not padded base64 gets Envoy's 400, which the
// filter turns into gRPC-Web's error shape like any non-gRPC answer.
func TestBadTextBodyIs400(t *testing.T) {
	for body, details := range map[string]string{
		"abc":   "grpc_base_64_decode_failed_bad_size",
		"ab!d":  "grpc_base_64_decode_failed",
		"a===":  "grpc_base_64_decode_failed",
		"AA==A": "grpc_base_64_decode_failed_bad_size",
	} {
		r := httptest.NewRequest(http.MethodPost, "/pkg.Svc/M", strings.NewReader(body))
		r.Header.Set("Content-Type", ctGRPCWebText)
		res := filtertest.Run(newFilter(t), r, filtertest.Options{})
		if res.Passed || res.Code != http.StatusBadRequest || res.Details != details || res.Body != "" ||
			res.Header.Get("Grpc-Status") != "13" || res.Header.Get("Grpc-Message") != "Bad gRPC-web request, invalid base64 data." {
			t.Errorf("%q: passed %v, %d %s %v %q; want 400 %s", body, res.Passed, res.Code, res.Details, res.Header, res.Body, details)
		}
	}
}

// A non-gRPC answer (an error page, a local reply) keeps its status and
// becomes grpc-status and grpc-message, as Envoy does.
func TestNonGRPCResponse(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, "/pkg.Svc/M", strings.NewReader(""))
	r.Header.Set("Content-Type", ctGRPCWeb)
	res := filtertest.Run(newFilter(t), r, filtertest.Options{Upstream: func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("no healthy upstream\n100%~"))
	}})
	h := res.Header
	if res.Code != http.StatusServiceUnavailable || h.Get("Grpc-Status") != "14" ||
		h.Get("Grpc-Message") != "no healthy upstream%0A100%25%7E" || res.Body != "" || h.Get("Content-Type") != ctGRPCWebProto {
		t.Fatalf("%d %v %q", res.Code, h, res.Body)
	}
}

func TestOtherRequestsPassUntouched(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, "/pkg.Svc/M", strings.NewReader("x"))
	r.Header.Set("Content-Type", "application/grpc")
	res := filtertest.Run(newFilter(t), r, filtertest.Options{Upstream: grpcUpstream})
	if res.Forwarded != r || res.Header.Get("Content-Type") != "application/grpc" {
		t.Fatalf("a gRPC request was changed: %v", res.Header)
	}
}

func FuzzDecodeBase64Chunks(f *testing.F) {
	f.Add([]byte("AAECAw=="))
	f.Add([]byte("AA==AAE="))
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := decodeBase64Chunks(b)
		if err == nil && len(out) > len(b) {
			t.Fatalf("decoded %d bytes from %d", len(out), len(b))
		}
		if err == nil {
			// What decodes re-encodes to the same length in padded pieces.
			if base64.StdEncoding.EncodedLen(len(out)) > len(b) {
				t.Fatalf("%q: %d decoded bytes cannot come from %d", b, len(out), len(b))
			}
		}
	})
}

// BenchmarkFilter is one unary call through the filter: binary, and text
// (base64 both ways), against a plain gRPC call it passes untouched.
func BenchmarkFilter(b *testing.B) {
	cfg, _ := anypb.New(&grpcwebv3.GrpcWeb{})
	f, _ := filters.Lookup(cfg.GetTypeUrl())
	flt, _ := f.New("envoy.filters.http.grpc_web", cfg, filters.BuildContext{})
	msg := append([]byte{0, 0, 0, 1, 0}, bytes.Repeat([]byte{'m'}, 256)...)
	for _, c := range []struct{ name, ct, accept, body string }{
		{"grpc-passthrough", "application/grpc", "", string(msg)},
		{"binary", ctGRPCWebProto, "", string(msg)},
		{"text", ctGRPCWebText, ctGRPCWebText, base64.StdEncoding.EncodeToString(msg)},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r := httptest.NewRequest(http.MethodPost, "/pkg.Svc/M", strings.NewReader(c.body))
				r.Header.Set("Content-Type", c.ct)
				if c.accept != "" {
					r.Header.Set("Accept", c.accept)
				}
				filtertest.Run(flt, r, filtertest.Options{Upstream: func(w http.ResponseWriter, up *http.Request) {
					_, _ = io.Copy(io.Discard, up.Body)
					grpcUpstream(w, up)
				}})
			}
		})
	}
}
