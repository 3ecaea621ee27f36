//go:build wasip1

// Command trailers exercises the trailer callbacks. It keeps the request
// trailer x-checksum (and adds x-wasm-seen: yes to the request trailers,
// which go upstream) and answers with it in the response trailer
// x-wasm-request-trailer; it adds x-wasm-trailer: added to the response
// trailers, copies grpc-status to x-wasm-grpc-status, and records in
// x-wasm-body-end whether a body callback was told end_of_stream
// (Envoy says false when trailers follow).
package main

import (
	"strconv"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

func main() {}

func init() {
	proxywasm.SetHttpContext(func(uint32) types.HttpContext { return &trailers{} })
}

type trailers struct {
	types.DefaultHttpContext
	checksum     string
	sawTrailers  bool
	reqBodyEnd   bool
	respBodyEnd  bool
	reqBodyCalls int
}

func (t *trailers) OnHttpRequestBody(_ int, end bool) types.Action {
	t.reqBodyCalls++
	t.reqBodyEnd = t.reqBodyEnd || end
	return types.ActionContinue
}

func (t *trailers) OnHttpRequestTrailers(int) types.Action {
	t.sawTrailers = true
	v, err := proxywasm.GetHttpRequestTrailer("x-checksum")
	if err != nil {
		v = "missing"
	}
	t.checksum = v
	// Trailers the plugin writes go upstream.
	_ = proxywasm.AddHttpRequestTrailer("x-wasm-seen", "yes")
	return types.ActionContinue
}

func (t *trailers) OnHttpResponseBody(_ int, end bool) types.Action {
	t.respBodyEnd = t.respBodyEnd || end
	return types.ActionContinue
}

func (t *trailers) OnHttpResponseTrailers(int) types.Action {
	_ = proxywasm.AddHttpResponseTrailer("x-wasm-trailer", "added")
	_ = proxywasm.AddHttpResponseTrailer("x-wasm-request-trailer", t.checksum)
	_ = proxywasm.AddHttpResponseTrailer("x-wasm-body-end",
		"request="+strconv.FormatBool(t.reqBodyEnd)+" response="+strconv.FormatBool(t.respBodyEnd))
	if st, err := proxywasm.GetHttpResponseTrailer("grpc-status"); err == nil {
		_ = proxywasm.ReplaceHttpResponseTrailer("x-wasm-grpc-status", st)
	}
	return types.ActionContinue
}
