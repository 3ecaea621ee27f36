//go:build wasip1

// Command config reads its JSON configuration ({"header": name, "value":
// value}) once, in OnPluginStart, and sets that header on requests going
// upstream and on responses. A configuration that is not valid JSON makes
// OnPluginStart fail, which the host must report.
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

type config struct {
	Header string `json:"header"`
	Value  string `json:"value"`
}

type plugin struct {
	types.DefaultPluginContext
	cfg config
}

func (p *plugin) OnPluginStart(size int) types.OnPluginStartStatus {
	b, err := proxywasm.GetPluginConfiguration()
	if err != nil || json.Unmarshal(b, &p.cfg) != nil || p.cfg.Header == "" {
		proxywasm.LogCriticalf("bad configuration %q: %v", b, err)
		return types.OnPluginStartStatusFailed
	}
	return types.OnPluginStartStatusOK
}

func (p *plugin) NewHttpContext(uint32) types.HttpContext { return &stream{cfg: p.cfg} }

type stream struct {
	types.DefaultHttpContext
	cfg config
}

func (s *stream) OnHttpRequestHeaders(int, bool) types.Action {
	_ = proxywasm.ReplaceHttpRequestHeader(s.cfg.Header, s.cfg.Value)
	return types.ActionContinue
}

func (s *stream) OnHttpResponseHeaders(int, bool) types.Action {
	_ = proxywasm.ReplaceHttpResponseHeader(s.cfg.Header, s.cfg.Value)
	return types.ActionContinue
}
