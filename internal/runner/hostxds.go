package runner

import (
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"google.golang.org/protobuf/proto"

	"github.com/portico-gw/portico/internal/ir"
	"github.com/portico-gw/portico/internal/xds/xdstypes"
)

// hostAdjust applies the host runtime's two choices to the xDS it serves,
// leaving the translation itself as `x translate` shows it:
//
//   - the readiness listener (the IR's 0.0.0.0:19003) is dropped unless kept:
//     every fleet on one host would claim the same port, and the admin
//     server's /readyz answers the question;
//   - with listenerAddress set, every listener binds that address instead
//     of the translated one (0.0.0.0), e.g. 127.0.0.1 on a shared machine.
//
// Listeners are cloned before being changed; res is not modified.
func hostAdjust(res *xdstypes.Resources, x *ir.Xds, listenerAddress string, keepReady bool) *xdstypes.Resources {
	var ready *ir.ReadyListener
	if x != nil && !keepReady {
		ready = x.ReadyListener
	}
	if ready == nil && listenerAddress == "" {
		return res
	}
	out := *res
	out.Listeners = make([]*listenerv3.Listener, 0, len(res.Listeners))
	for _, l := range res.Listeners {
		sa := l.GetAddress().GetSocketAddress()
		if ready != nil && sa != nil && sa.GetAddress() == ready.Address && sa.GetPortValue() == ready.Port {
			continue
		}
		if listenerAddress != "" && sa != nil {
			l = proto.Clone(l).(*listenerv3.Listener)
			l.GetAddress().GetSocketAddress().Address = listenerAddress
			for _, a := range l.GetAdditionalAddresses() {
				if s := a.GetAddress().GetSocketAddress(); s != nil {
					s.Address = listenerAddress
				}
			}
		}
		out.Listeners = append(out.Listeners, l)
	}
	return &out
}
