// Package grpcweb is Envoy's envoy.filters.http.grpc_web for the built-in
// proxy: it bridges gRPC-Web clients (browsers, over HTTP/1.1 or HTTP/2)
// to gRPC servers, following gRPC's PROTOCOL-WEB and Envoy's filter:
//
//   - a request whose Content-Type is application/grpc-web,
//     application/grpc-web+proto or their -text (base64) variants goes
//     upstream as application/grpc, with te: trailers, grpc-accept-encoding
//     when it has none, no Content-Length, and its body base64-decoded for
//     the text variants;
//   - the response is application/grpc-web+proto (or -text+proto when the
//     request's Accept asked for text, its frames then base64-encoded one by
//     one); its trailers become a last frame, flag 0x80 then the 4-byte
//     length, holding "name:value\r\n" lines;
//   - a response that is not gRPC (an error page, a local reply such as
//     no route's 404) keeps its status, loses its body, and gets grpc-status
//     (from the HTTP status) and grpc-message (the body, percent-encoded).
//
// Other requests pass untouched.
package grpcweb

import (
	"fmt"
	"net/http"
	"strconv"

	grpcwebv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/grpc_web/v3"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/portico-gw/portico/internal/proxy/filters"
)

// Content types of gRPC-Web (Envoy's ContentTypeValues).
const (
	ctGRPCWeb          = "application/grpc-web"
	ctGRPCWebProto     = "application/grpc-web+proto"
	ctGRPCWebText      = "application/grpc-web-text"
	ctGRPCWebTextProto = "application/grpc-web-text+proto"
	ctGRPC             = "application/grpc"
)

// grpcAcceptEncoding is what Envoy announces upstream for a client that
// announced nothing.
const grpcAcceptEncoding = "identity,deflate,gzip"

// maxTextRequest bounds the -text request body decoded before it goes
// upstream (a malformed one then gets Envoy's 400); a longer body is
// decoded as it streams. gRPC-Web clients send unary request bodies.
const maxTextRequest = 4 << 20

func init() {
	filters.Register(&filters.Factory{
		TypeURL: filters.TypeURL("envoy.extensions.filters.http.grpc_web.v3.GrpcWeb"),
		New: func(name string, cfg *anypb.Any, _ filters.BuildContext) (filters.Filter, error) {
			var c grpcwebv3.GrpcWeb
			if err := cfg.UnmarshalTo(&c); err != nil {
				return nil, fmt.Errorf("grpc_web %q: %v", name, err)
			}
			return filters.FilterFunc(serve), nil
		},
	})
}

func serve(s *filters.Stream, next filters.Next) {
	ct := s.Request.Header.Get("Content-Type")
	if !isGRPCWeb(ct) {
		next(s)
		return
	}
	textRequest := ct == ctGRPCWebText || ct == ctGRPCWebTextProto
	accept := s.Request.Header.Get("Accept")
	textResponse := accept == ctGRPCWebText || accept == ctGRPCWebTextProto

	// A copy with its own headers: the stream's original request (which
	// local replies and access logs judge) stays a gRPC-Web one, as in
	// Envoy, where a gRPC-Web request is not a gRPC request.
	r := *s.Request
	r.Header = s.Request.Header.Clone()
	r.Header.Del("Content-Length")
	r.ContentLength = -1
	r.Header.Set("Content-Type", ctGRPC)
	r.Header.Set("Te", "trailers")
	if r.Header.Get("Grpc-Accept-Encoding") == "" {
		r.Header.Set("Grpc-Accept-Encoding", grpcAcceptEncoding)
	}
	s.Request = &r
	// The writer goes first: Envoy's own 400 for a bad -text body is
	// answered through the filter too (grpc-status 13 and the message).
	w := &webWriter{ResponseWriter: s.Writer, text: textResponse}
	s.Writer = w
	// Not deferred: a stream the upstream reset unwinds with a panic
	// (http.ErrAbortHandler), and must not get a trailers frame then.
	if !textRequest || decodeTextRequest(s) {
		next(s)
	}
	w.finish()
}

func isGRPCWeb(ct string) bool {
	switch ct {
	case ctGRPCWeb, ctGRPCWebProto, ctGRPCWebText, ctGRPCWebTextProto:
		return true
	}
	return false
}

// decodeTextRequest replaces a -text request body by its decoding. A body
// that is not valid padded base64 gets Envoy's 400 and false.
func decodeTextRequest(s *filters.Stream) bool {
	r := s.Request
	if r.Body == nil || r.Body == http.NoBody {
		return true
	}
	body, complete, err := filters.ReadRequestBody(s, maxTextRequest)
	if err != nil {
		s.LocalReply(http.StatusBadRequest, "Bad gRPC-web request, invalid base64 data.", "grpc_base_64_decode_failed")
		return false
	}
	if !complete {
		r.Body = newTextReader(r.Body)
		return true
	}
	if len(body)%4 != 0 {
		s.LocalReply(http.StatusBadRequest, "Bad gRPC-web request, invalid base64 data.", "grpc_base_64_decode_failed_bad_size")
		return false
	}
	decoded, err := decodeBase64Chunks(body)
	if err != nil {
		s.LocalReply(http.StatusBadRequest, "Bad gRPC-web request, invalid base64 data.", "grpc_base_64_decode_failed")
		return false
	}
	filters.SetRequestBody(s, decoded)
	// As Envoy, no Content-Length goes upstream: the body is a stream of
	// frames.
	r.Header.Del("Content-Length")
	r.ContentLength = -1
	return true
}

// grpcStatusOf is the gRPC status Envoy gives a non-gRPC response.
func grpcStatusOf(code int) string { return strconv.Itoa(int(filters.GRPCCodeOfHTTP(code))) }
