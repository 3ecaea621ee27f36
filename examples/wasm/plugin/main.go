//go:build wasip1

// Command plugin is the guide's Wasm extension written in Go: it adds
// x-wasm-custom: FOO to every response, as Envoy Gateway's example plugin
// does. Build it with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o plugin.wasm ./examples/wasm/plugin
package main

import (
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

func main() {}

func init() {
	proxywasm.SetHttpContext(func(uint32) types.HttpContext { return &addHeader{} })
}

type addHeader struct{ types.DefaultHttpContext }

func (*addHeader) OnHttpResponseHeaders(int, bool) types.Action {
	if err := proxywasm.AddHttpResponseHeader("x-wasm-custom", "FOO"); err != nil {
		proxywasm.LogErrorf("adding x-wasm-custom: %v", err)
	}
	return types.ActionContinue
}
