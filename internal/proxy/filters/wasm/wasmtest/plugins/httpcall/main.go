//go:build wasip1

// Command httpcall asks another cluster before letting a request through:
// it pauses the request, calls the cluster named in its configuration at
// /check, and copies the answer's body into the request header x-check
// (or answers 503 when the call failed) before resuming.
package main

import (
	"encoding/json"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

func main() {}

func init() {
	proxywasm.SetVMContext(&vm{})
}

type vm struct{ types.DefaultVMContext }

func (*vm) NewPluginContext(uint32) types.PluginContext { return &plugin{} }

type plugin struct {
	types.DefaultPluginContext
	cluster string
}

func (p *plugin) OnPluginStart(int) types.OnPluginStartStatus {
	b, err := proxywasm.GetPluginConfiguration()
	if err != nil || len(b) == 0 {
		return types.OnPluginStartStatusFailed
	}
	p.cluster = string(b)
	// From an EnvoyExtensionPolicy the configuration is JSON: a string.
	var s string
	if json.Unmarshal(b, &s) == nil {
		p.cluster = s
	}
	return types.OnPluginStartStatusOK
}

func (p *plugin) NewHttpContext(uint32) types.HttpContext { return &stream{cluster: p.cluster} }

type stream struct {
	types.DefaultHttpContext
	cluster string
}

func (s *stream) OnHttpRequestHeaders(int, bool) types.Action {
	headers := [][2]string{{":method", "GET"}, {":path", "/check"}, {":authority", "checker"}}
	if _, err := proxywasm.DispatchHttpCall(s.cluster, headers, nil, nil, 5000, s.answered); err != nil {
		proxywasm.LogErrorf("dispatching: %v", err)
		_ = proxywasm.SendHttpResponse(503, nil, []byte("call failed"), -1)
		return types.ActionPause
	}
	return types.ActionPause
}

func (s *stream) answered(_, size, _ int) {
	if size == 0 {
		_ = proxywasm.SendHttpResponse(503, nil, []byte("check unavailable"), -1)
		return
	}
	b, err := proxywasm.GetHttpCallResponseBody(0, size)
	if err != nil {
		_ = proxywasm.SendHttpResponse(503, nil, []byte("check unreadable"), -1)
		return
	}
	_ = proxywasm.ReplaceHttpRequestHeader("x-check", string(b))
	_ = proxywasm.ResumeHttpRequest()
}
