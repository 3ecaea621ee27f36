//go:build wasip1

// Command auth is an authorization check: a request without
// "authorization: Bearer letmein" is answered 403 by the plugin itself
// (proxy_send_local_response) and never reaches the upstream. A body
// piece holding "deny" is answered 403 too, while the request is already
// on its way upstream. It also reports the properties it reads in the
// response header x-wasm-props.
package main

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

func main() {}

func init() {
	proxywasm.SetHttpContext(func(uint32) types.HttpContext { return &auth{} })
}

type auth struct{ types.DefaultHttpContext }

func (*auth) OnHttpRequestHeaders(int, bool) types.Action {
	if v, _ := proxywasm.GetHttpRequestHeader("authorization"); v != "Bearer letmein" {
		_ = proxywasm.SendHttpResponse(403, [][2]string{{"x-denied-by", "wasm"}}, []byte("denied by wasm"), -1)
		return types.ActionPause
	}
	return types.ActionContinue
}

func (*auth) OnHttpRequestBody(size int, _ bool) types.Action {
	b, err := proxywasm.GetHttpRequestBody(0, size)
	if err == nil && bytes.Contains(b, []byte("deny")) {
		_ = proxywasm.SendHttpResponse(403, [][2]string{{"x-denied-by", "wasm-body"}}, []byte("denied by wasm body"), -1)
		return types.ActionPause
	}
	return types.ActionContinue
}

func (*auth) OnHttpResponseHeaders(int, bool) types.Action {
	prop := func(p ...string) string {
		b, err := proxywasm.GetProperty(p)
		if err != nil {
			return "!" + err.Error()
		}
		return string(b)
	}
	code, _ := proxywasm.GetProperty([]string{"response", "code"})
	var status uint64
	if len(code) == 8 {
		status = binary.LittleEndian.Uint64(code)
	}
	_ = proxywasm.AddHttpResponseHeader("x-wasm-props", fmt.Sprintf("path=%s method=%s host=%s root=%s name=%s code=%d",
		prop("request", "path"), prop("request", "method"), prop("request", "host"),
		prop("plugin_root_id"), prop("plugin_name"), status))
	return types.ActionContinue
}
