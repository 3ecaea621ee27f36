//go:build wasip1

// Command body rewrites request bodies: it holds the headers
// (StopIteration), buffers the whole body (StopIterationAndBuffer until
// the end of the stream), replaces every "foo" with "bar", and tells the
// upstream how long the original was in x-original-length, which goes
// with the held headers.
package main

import (
	"bytes"
	"strconv"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

func main() {}

func init() {
	proxywasm.SetHttpContext(func(uint32) types.HttpContext { return &body{} })
}

type body struct{ types.DefaultHttpContext }

func (*body) OnHttpRequestHeaders(int, bool) types.Action {
	_ = proxywasm.RemoveHttpRequestHeader("content-length")
	return types.ActionPause // StopIteration: the headers wait for the body
}

func (*body) OnHttpRequestBody(size int, end bool) types.Action {
	if !end {
		return types.ActionPause // StopIterationAndBuffer
	}
	b, err := proxywasm.GetHttpRequestBody(0, size)
	if err != nil {
		proxywasm.LogErrorf("reading the body: %v", err)
		return types.ActionContinue
	}
	_ = proxywasm.ReplaceHttpRequestBody(bytes.ReplaceAll(b, []byte("foo"), []byte("bar")))
	_ = proxywasm.ReplaceHttpRequestHeader("x-original-length", strconv.Itoa(len(b)))
	return types.ActionContinue
}
