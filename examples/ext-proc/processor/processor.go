// Package processor is the example external processor: it behaves like
// Envoy Gateway's e2e processor (examples/grpc-ext-proc in Envoy Gateway's
// repository): it marks the requests and responses it processed, reports
// the route name and request path it was given as attributes, echoes the
// RBAC filter's result from the metadata it was sent, and emits dynamic
// metadata for the route to use. Bodies and trailers go through unchanged
// (in full duplex mode they are streamed back as they came).
package processor

import (
	"io"
	"sync"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocsvc "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/structpb"
)

// Server implements envoy.service.ext_proc.v3.ExternalProcessor.
type Server struct {
	extprocsvc.UnimplementedExternalProcessorServer
	// FullDuplex answers body messages with streamed responses, as the
	// FullDuplexStreamed mode requires.
	FullDuplex bool
	// Record, when set, sees every message received (tests use it).
	Record func(*extprocsvc.ProcessingRequest)

	mu sync.Mutex
}

// Process serves one stream: one request of the proxy.
func (s *Server) Process(st grpc.BidiStreamingServer[extprocsvc.ProcessingRequest, extprocsvc.ProcessingResponse]) error {
	for {
		req, err := st.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if s.Record != nil {
			s.mu.Lock()
			s.Record(req)
			s.mu.Unlock()
		}
		if err := st.Send(s.answer(req)); err != nil {
			return err
		}
	}
}

func (s *Server) answer(req *extprocsvc.ProcessingRequest) *extprocsvc.ProcessingResponse {
	switch r := req.GetRequest().(type) {
	case *extprocsvc.ProcessingRequest_RequestHeaders:
		return requestHeaders(req, r.RequestHeaders)
	case *extprocsvc.ProcessingRequest_ResponseHeaders:
		return responseHeaders(req)
	case *extprocsvc.ProcessingRequest_RequestBody:
		return &extprocsvc.ProcessingResponse{Response: &extprocsvc.ProcessingResponse_RequestBody{
			RequestBody: &extprocsvc.BodyResponse{Response: s.bodyResponse(r.RequestBody)}}}
	case *extprocsvc.ProcessingRequest_ResponseBody:
		return &extprocsvc.ProcessingResponse{Response: &extprocsvc.ProcessingResponse_ResponseBody{
			ResponseBody: &extprocsvc.BodyResponse{Response: s.bodyResponse(r.ResponseBody)}}}
	case *extprocsvc.ProcessingRequest_RequestTrailers:
		return &extprocsvc.ProcessingResponse{Response: &extprocsvc.ProcessingResponse_RequestTrailers{RequestTrailers: &extprocsvc.TrailersResponse{}}}
	}
	return &extprocsvc.ProcessingResponse{Response: &extprocsvc.ProcessingResponse_ResponseTrailers{ResponseTrailers: &extprocsvc.TrailersResponse{}}}
}

func (s *Server) bodyResponse(b *extprocsvc.HttpBody) *extprocsvc.CommonResponse {
	if !s.FullDuplex {
		return &extprocsvc.CommonResponse{}
	}
	return &extprocsvc.CommonResponse{BodyMutation: &extprocsvc.BodyMutation{Mutation: &extprocsvc.BodyMutation_StreamedResponse{
		StreamedResponse: &extprocsvc.StreamedBodyResponse{Body: b.GetBody(), EndOfStream: b.GetEndOfStream()}}}}
}

func requestHeaders(req *extprocsvc.ProcessingRequest, h *extprocsvc.HttpHeaders) *extprocsvc.ProcessingResponse {
	set := []*corev3.HeaderValueOption{header("x-request-ext-processed", "true")}
	if name := attribute(req, "xds.route_name"); name != "" {
		set = append(set, header("x-request-xds-route-name", name))
	}
	if v, ok := headerValue(h.GetHeaders(), "x-request-client-header"); ok {
		set = append(set, header("x-request-client-header", "mutated"), header("x-request-client-header-received", v))
	}
	md, _ := structpb.NewStruct(map[string]any{"io.envoyproxy.gateway.e2e": map[string]any{"ext-proc-emitted-metadata": "received"}})
	return &extprocsvc.ProcessingResponse{
		Response: &extprocsvc.ProcessingResponse_RequestHeaders{RequestHeaders: &extprocsvc.HeadersResponse{
			Response: &extprocsvc.CommonResponse{HeaderMutation: &extprocsvc.HeaderMutation{SetHeaders: set}}}},
		DynamicMetadata: md,
	}
}

func responseHeaders(req *extprocsvc.ProcessingRequest) *extprocsvc.ProcessingResponse {
	set := []*corev3.HeaderValueOption{header("x-response-ext-processed", "true")}
	if name := attribute(req, "xds.route_name"); name != "" {
		set = append(set, header("x-response-xds-route-name", name))
	}
	rbac := req.GetMetadataContext().GetFilterMetadata()["envoy.filters.http.rbac"].GetFields()["enforced_engine_result"].GetStringValue()
	if rbac != "" {
		set = append(set, header("x-response-rbac-result-metadata", rbac))
	}
	if p := attribute(req, "request.path"); p != "" {
		set = append(set, header("x-response-request-path", p))
	}
	return &extprocsvc.ProcessingResponse{Response: &extprocsvc.ProcessingResponse_ResponseHeaders{ResponseHeaders: &extprocsvc.HeadersResponse{
		Response: &extprocsvc.CommonResponse{HeaderMutation: &extprocsvc.HeaderMutation{SetHeaders: set}}}}}
}

func header(k, v string) *corev3.HeaderValueOption {
	return &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: k, RawValue: []byte(v)}}
}

// attribute reads a string attribute Envoy sent (key envoy.filters.http.ext_proc).
func attribute(req *extprocsvc.ProcessingRequest, name string) string {
	return req.GetAttributes()["envoy.filters.http.ext_proc"].GetFields()[name].GetStringValue()
}

func headerValue(hm *corev3.HeaderMap, name string) (string, bool) {
	for _, h := range hm.GetHeaders() {
		if h.GetKey() == name {
			if len(h.GetRawValue()) > 0 {
				return string(h.GetRawValue()), true
			}
			return h.GetValue(), true
		}
	}
	return "", false
}
