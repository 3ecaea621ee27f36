package filters

import (
	"context"
	"encoding/binary"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// gRPC over a cluster (Envoy's envoy_grpc client): gRPC is HTTP/2 with
// length-prefixed messages and the status in trailers, so the cluster's
// own HTTP/2 transport (its hosts, balancing, TLS per endpoint and pooled
// connections, unix sockets included) carries it, one stream per call,
// balanced per call as Envoy's gRPC client does, following config
// updates like any route. Compression is not offered.
//
// Every error of a call is a gRPC status error (google.golang.org/grpc/
// status; status.Code reads it): the server's status, Unavailable when
// the cluster cannot be reached, DeadlineExceeded or Canceled when the
// call's context ends, Internal for a malformed answer, ResourceExhausted
// for a message over MaxGRPCMessage, and gRPC's mapping of an HTTP status
// for an answer that is not gRPC.

// MaxGRPCMessage bounds a message received (gRPC's default limit).
const MaxGRPCMessage = 4 << 20

// GRPCCall makes a unary call: method is "/package.Service/Method",
// authority the :authority to send (Envoy Gateway's envoy_grpc authority,
// by default the cluster's name), md extra metadata. timeout, when not
// zero, bounds the call and is sent as grpc-timeout.
func GRPCCall(ctx context.Context, ups Upstreams, cluster, authority, method string, md http.Header,
	timeout time.Duration, in, out proto.Message) error {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	s := OpenGRPCStream(ctx, ups, cluster, authority, method, md)
	defer s.Close()
	if timeout > 0 {
		s.req.Header.Set("Grpc-Timeout", strconv.FormatInt(timeout.Milliseconds(), 10)+"m")
	}
	if err := s.Send(in); err != nil {
		return err
	}
	s.CloseSend()
	if err := s.Recv(out); err != nil {
		if err == io.EOF {
			return status.Error(codes.Internal, "the server sent no message")
		}
		return err
	}
	// The status comes after the message, in the trailers.
	switch err := s.Recv(out.ProtoReflect().New().Interface()); err {
	case io.EOF:
		return nil
	case nil:
		return status.Error(codes.Internal, "the server sent more than one message to a unary call")
	default:
		return err
	}
}

// grpcRequest is a call's HTTP/2 request; body is what the transport
// sends as the request body.
func grpcRequest(ctx context.Context, authority, method string, md http.Header, body io.ReadCloser) *http.Request {
	h := http.Header{
		"Content-Type": {"application/grpc"},
		"Te":           {"trailers"},
		"User-Agent":   {"portico-envoy-grpc"},
	}
	for k, vs := range md {
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	return (&http.Request{
		Method: http.MethodPost,
		URL:    &url.URL{Scheme: "http", Host: authority, Path: method},
		// A cluster that follows the downstream's protocol uses HTTP/2 for it.
		Proto:         "HTTP/2.0",
		ProtoMajor:    2,
		Header:        h,
		Body:          body,
		ContentLength: -1,
		Host:          authority,
	}).WithContext(ctx)
}

// grpcFrame is m as a length-prefixed message.
func grpcFrame(m proto.Message) ([]byte, error) {
	b, err := proto.Marshal(m)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	frame := make([]byte, 5+len(b))
	binary.BigEndian.PutUint32(frame[1:5], uint32(len(b)))
	copy(frame[5:], b)
	return frame, nil
}

// grpcHeaderStatus checks the response head: a non-200 answer, one that
// is not gRPC, or a trailers-only answer carrying an error ends the call.
func grpcHeaderStatus(resp *http.Response) error {
	if resp.StatusCode != http.StatusOK {
		return status.Errorf(GRPCCodeOfHTTP(resp.StatusCode), "HTTP status %d from the gRPC server", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); len(ct) < 16 || ct[:16] != "application/grpc" {
		return status.Errorf(codes.Internal, "response content-type %q is not application/grpc", ct)
	}
	if v := resp.Header.Get("Grpc-Status"); v != "" {
		return grpcTrailerStatus(resp.Header)
	}
	return nil
}

// IsGRPCContentType reports whether a Content-Type is gRPC's as Envoy
// judges it: application/grpc, alone or followed by "+" (a subtype) or
// ";" (parameters). gRPC-Web's application/grpc-web is not.
func IsGRPCContentType(ct string) bool {
	rest, ok := strings.CutPrefix(ct, "application/grpc")
	return ok && (rest == "" || rest[0] == '+' || rest[0] == ';')
}

// GRPCCodeOfHTTP is gRPC's mapping of HTTP statuses from a non-gRPC answer
// (Envoy's httpToGrpcStatus).
func GRPCCodeOfHTTP(code int) codes.Code {
	switch code {
	case http.StatusBadRequest:
		return codes.Internal
	case http.StatusUnauthorized:
		return codes.Unauthenticated
	case http.StatusForbidden:
		return codes.PermissionDenied
	case http.StatusNotFound:
		return codes.Unimplemented
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return codes.Unavailable
	}
	return codes.Unknown
}

// grpcTrailerStatus is the call's end status; io.EOF for OK.
func grpcTrailerStatus(h http.Header) error {
	v := h.Get("Grpc-Status")
	if v == "" {
		return status.Error(codes.Internal, "server closed the stream without a grpc-status")
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return status.Errorf(codes.Internal, "malformed grpc-status %q", v)
	}
	if codes.Code(n) == codes.OK {
		return io.EOF
	}
	msg, _ := url.PathUnescape(h.Get("Grpc-Message"))
	return status.Error(codes.Code(n), msg)
}
