package runner

import (
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"

	"github.com/portico-gw/portico/internal/ir"
	"github.com/portico-gw/portico/internal/xds/xdstypes"
)

func listener(name, addr string, port uint32) *listenerv3.Listener {
	return &listenerv3.Listener{Name: name, Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
		SocketAddress: &corev3.SocketAddress{Address: addr, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port}}}}}
}

func TestHostAdjust(t *testing.T) {
	res := &xdstypes.Resources{Listeners: []*listenerv3.Listener{
		listener("ready", "0.0.0.0", 19003), listener("default/eg/http", "0.0.0.0", 10080)}}
	x := &ir.Xds{ReadyListener: &ir.ReadyListener{Address: "0.0.0.0", Port: 19003}}

	out := hostAdjust(res, x, "127.0.0.1", false)
	if len(out.Listeners) != 1 || out.Listeners[0].GetName() != "default/eg/http" ||
		out.Listeners[0].GetAddress().GetSocketAddress().GetAddress() != "127.0.0.1" {
		t.Fatalf("adjusted listeners = %v", out.Listeners)
	}
	if res.Listeners[1].GetAddress().GetSocketAddress().GetAddress() != "0.0.0.0" || len(res.Listeners) != 2 {
		t.Fatal("hostAdjust changed its input")
	}
	if out := hostAdjust(res, x, "", true); out != res {
		t.Fatal("nothing to adjust must return the input as is")
	}
	if out := hostAdjust(res, x, "", false); len(out.Listeners) != 1 || out.Listeners[0].GetName() != "default/eg/http" {
		t.Fatalf("ready listener not dropped: %v", out.Listeners)
	}
}
