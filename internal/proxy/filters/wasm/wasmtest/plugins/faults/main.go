//go:build wasip1

// Command faults misbehaves on demand, by request path: /trap panics (a
// trap), /loop never returns, /oom allocates until memory runs out;
// /trap-body panics in the first request body callback. Any
// other request gets x-faults: ok, and a counter shared by every VM
// (proxy shared data) in x-count.
package main

import (
	"encoding/binary"
	"strconv"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

func main() {}

func init() {
	proxywasm.SetHttpContext(func(uint32) types.HttpContext { return &faults{} })
}

type faults struct{ types.DefaultHttpContext }

var sink [][]byte

func (*faults) OnHttpRequestHeaders(int, bool) types.Action {
	path, _ := proxywasm.GetHttpRequestHeader(":path")
	switch path {
	case "/trap":
		panic("trap requested")
	case "/loop":
		for i := 0; ; i++ {
			if i < 0 {
				return types.ActionContinue
			}
		}
	case "/oom":
		for {
			sink = append(sink, make([]byte, 1<<20))
		}
	}
	return types.ActionContinue
}

func (*faults) OnHttpRequestBody(int, bool) types.Action {
	if path, _ := proxywasm.GetHttpRequestHeader(":path"); path == "/trap-body" {
		panic("trap requested in the body")
	}
	return types.ActionContinue
}

func (*faults) OnHttpResponseHeaders(int, bool) types.Action {
	_ = proxywasm.AddHttpResponseHeader("x-faults", "ok")
	for {
		b, cas, err := proxywasm.GetSharedData("count")
		var n uint64
		if err == nil && len(b) == 8 {
			n = binary.LittleEndian.Uint64(b)
		}
		n++
		var out [8]byte
		binary.LittleEndian.PutUint64(out[:], n)
		if proxywasm.SetSharedData("count", out[:], cas) == nil {
			_ = proxywasm.AddHttpResponseHeader("x-count", strconv.FormatUint(n, 10))
			break
		}
	}
	return types.ActionContinue
}
