package filters_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/portico-gw/portico/internal/proxy/filters"
)

// h2cUpstreams sends every call to one h2c server, as a cluster with
// HTTP/2 would; "down" is a cluster with no reachable host.
type h2cUpstreams struct {
	addr string
	rt   *http.Transport
}

func (u *h2cUpstreams) RoundTrip(cluster string, req *http.Request) (*http.Response, error) {
	if cluster == "down" {
		return nil, errors.New("no healthy upstream")
	}
	out := req.Clone(req.Context())
	out.URL.Scheme, out.URL.Host = "http", u.addr
	return u.rt.RoundTrip(out)
}

func (u *h2cUpstreams) Dial(ctx context.Context, _ string) (net.Conn, error) {
	return (&net.Dialer{}).DialContext(ctx, "tcp", u.addr)
}

// grpcServer serves h over h2c until the test ends.
func grpcServer(t *testing.T, h http.HandlerFunc) filters.Upstreams {
	s := httptest.NewUnstartedServer(h)
	s.EnableHTTP2 = true
	s.Config.Protocols = new(http.Protocols)
	s.Config.Protocols.SetUnencryptedHTTP2(true)
	s.Start()
	t.Cleanup(s.Close)
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	return &h2cUpstreams{addr: s.Listener.Addr().String(), rt: &http.Transport{Protocols: p}}
}

func frame(t *testing.T, m proto.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]byte, 5, 5+len(b))
	binary.BigEndian.PutUint32(out[1:5], uint32(len(b)))
	return append(out, b...)
}

// answer is a gRPC server's reply: the head, frames, then the status.
func answer(code int, contentType string, frames [][]byte, grpcStatus, grpcMessage string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("Trailer", "Grpc-Status, Grpc-Message")
		w.WriteHeader(code)
		for _, f := range frames {
			_, _ = w.Write(f)
		}
		w.Header().Set("Grpc-Status", grpcStatus)
		w.Header().Set("Grpc-Message", grpcMessage)
	}
}

// Every way a unary call can end is a gRPC status: the server's, gRPC's
// mapping of HTTP statuses, and Internal or ResourceExhausted for what
// breaks the protocol.
func TestGRPCCallOutcomes(t *testing.T) {
	const ct = "application/grpc"
	ok := frame(t, wrapperspb.String("pong"))
	big := make([]byte, 5)
	binary.BigEndian.PutUint32(big[1:], filters.MaxGRPCMessage+1)
	for _, c := range []struct {
		name    string
		cluster string
		h       http.HandlerFunc
		code    codes.Code
		msg     string
	}{
		{"ok", "c", answer(200, ct, [][]byte{ok}, "0", ""), codes.OK, ""},
		{"server status", "c", answer(200, ct, nil, "7", "no%20way"), codes.PermissionDenied, "no way"},
		{"trailers only", "c", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", ct)
			w.Header().Set("Grpc-Status", "5")
			w.WriteHeader(200)
		}, codes.NotFound, ""},
		{"HTTP 503", "c", answer(503, "text/plain", nil, "", ""), codes.Unavailable, "HTTP status 503 from the gRPC server"},
		{"HTTP 404", "c", answer(404, "text/plain", nil, "", ""), codes.Unimplemented, "HTTP status 404 from the gRPC server"},
		{"not gRPC", "c", answer(200, "text/html", nil, "", ""), codes.Internal, `response content-type "text/html" is not application/grpc`},
		{"no status", "c", answer(200, ct, [][]byte{ok}, "", ""), codes.Internal, "server closed the stream without a grpc-status"},
		{"no message", "c", answer(200, ct, nil, "0", ""), codes.Internal, "the server sent no message"},
		{"two messages", "c", answer(200, ct, [][]byte{ok, ok}, "0", ""), codes.Internal, "the server sent more than one message to a unary call"},
		{"compressed", "c", answer(200, ct, [][]byte{append([]byte{1}, ok[1:]...)}, "0", ""), codes.Internal, "compressed messages are not supported"},
		{"oversized", "c", answer(200, ct, [][]byte{big}, "0", ""), codes.ResourceExhausted, "message of 4194305 bytes is larger than 4194304"},
		{"garbage", "c", answer(200, ct, [][]byte{{0, 0, 0, 0, 2, 0xff, 0xff}}, "0", ""), codes.Internal, ""},
		{"unreachable", "down", nil, codes.Unavailable, "no healthy upstream"},
		{"slow", "c", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }, codes.DeadlineExceeded, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := c.h
			if h == nil {
				h = answer(200, ct, nil, "0", "")
			}
			// A timeout far above a loaded machine's stalls, but for the
			// server that never answers.
			timeout := 10 * time.Second
			if c.code == codes.DeadlineExceeded {
				timeout = 50 * time.Millisecond
			}
			var out wrapperspb.StringValue
			err := filters.GRPCCall(context.Background(), grpcServer(t, h), c.cluster, "svc", "/test.Echo/Ping", nil,
				timeout, wrapperspb.String("ping"), &out)
			if status.Code(err) != c.code || (c.msg != "" && status.Convert(err).Message() != c.msg) {
				t.Fatalf("got %v, want %v %q", err, c.code, c.msg)
			}
			if c.code == codes.OK && out.GetValue() != "pong" {
				t.Fatalf("answer %q", out.GetValue())
			}
		})
	}
}

// A call carries the :authority, its metadata, grpc-timeout and the
// gRPC request headers; sends queue until the call starts, and the server
// reads the messages in order, then the half-close.
func TestGRPCStreamRequest(t *testing.T) {
	got := make(chan *http.Request, 1)
	var msgs []string
	ups := grpcServer(t, func(w http.ResponseWriter, r *http.Request) {
		var hdr [5]byte
		for {
			if _, err := io.ReadFull(r.Body, hdr[:]); err != nil {
				break
			}
			b := make([]byte, binary.BigEndian.Uint32(hdr[1:]))
			_, _ = io.ReadFull(r.Body, b)
			var m wrapperspb.StringValue
			_ = proto.Unmarshal(b, &m)
			msgs = append(msgs, m.GetValue())
		}
		got <- r
		w.Header().Set("Content-Type", "application/grpc")
		w.Header().Set("Grpc-Status", "0")
		w.WriteHeader(200)
	})
	md := http.Header{"X-Tenant": {"a", "b"}}
	s := filters.OpenGRPCStream(context.Background(), ups, "c", "processor.ns:9000", "/test.Echo/Many", md)
	defer s.Close()
	for _, v := range []string{"one", "two", "three"} {
		if err := s.Send(wrapperspb.String(v)); err != nil {
			t.Fatal(err)
		}
	}
	s.CloseSend()
	if err := s.Send(wrapperspb.String("late")); status.Code(err) != codes.Canceled {
		t.Fatalf("a send after the half-close: %v", err)
	}
	var m wrapperspb.StringValue
	if err := s.Recv(&m); err != io.EOF {
		t.Fatalf("Recv: %v, want the end of the call", err)
	}
	r := <-got
	if r.Host != "processor.ns:9000" || r.URL.Path != "/test.Echo/Many" || r.Method != "POST" || r.ProtoMajor != 2 ||
		r.Header.Get("Content-Type") != "application/grpc" || r.Header.Get("Te") != "trailers" ||
		len(r.Header.Values("X-Tenant")) != 2 {
		t.Fatalf("request %s %s %s %v", r.Method, r.Host, r.URL.Path, r.Header)
	}
	if len(msgs) != 3 || msgs[0] != "one" || msgs[2] != "three" {
		t.Fatalf("messages %v", msgs)
	}
	// grpc-timeout is the unary call's deadline.
	var timeout string
	ups = grpcServer(t, func(w http.ResponseWriter, r *http.Request) {
		timeout = r.Header.Get("Grpc-Timeout")
		answer(200, "application/grpc", [][]byte{frame(t, wrapperspb.String("x"))}, "0", "")(w, r)
	})
	if err := filters.GRPCCall(context.Background(), ups, "c", "svc", "/test.Echo/Ping", nil, 1500*time.Millisecond,
		wrapperspb.String("ping"), &m); err != nil || timeout != "1500m" {
		t.Fatalf("call: %v, grpc-timeout %q", err, timeout)
	}
}
