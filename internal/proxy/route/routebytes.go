package route

import (
	"fmt"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// Vhosts maps a virtual host's encoding to its compilation.
type Vhosts map[string]compiledVhost

// CompileBytes compiles an encoded RouteConfiguration. A gateway's
// routes share one configuration, so a one-route edit among 1000 hosts
// resends all of them: the encoding is split at its virtual hosts (field
// 2), and a virtual host whose bytes equal one compiled for the previous
// response reuses that compilation (prev), which is immutable. Every
// virtual host used is recorded in next. When the configuration has
// per-filter configs of its own, which are layered into each route, no
// reuse happens.
func CompileBytes(raw []byte, prev, next Vhosts) (*Table, error) {
	var rest []byte
	var hosts [][]byte
	for b := raw; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, fmt.Errorf("route configuration: %v", protowire.ParseError(n))
		}
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if m < 0 {
			return nil, fmt.Errorf("route configuration: %v", protowire.ParseError(m))
		}
		if num == 2 && typ == protowire.BytesType {
			v, _ := protowire.ConsumeBytes(b[n:])
			hosts = append(hosts, v)
		} else {
			rest = append(rest, b[:n+m]...)
		}
		b = b[n+m:]
	}
	var rc routev3.RouteConfiguration
	if err := proto.Unmarshal(rest, &rc); err != nil {
		return nil, err
	}
	t, err := newRouteTable(&rc)
	if err != nil {
		return nil, err
	}
	reuse := len(t.perFilter) == 0
	vhs := make([]compiledVhost, 0, len(hosts))
	for _, h := range hosts {
		if cv, ok := prev[string(h)]; ok && reuse {
			next[string(h)] = cv
			vhs = append(vhs, cv)
			continue
		}
		var v routev3.VirtualHost
		if err := proto.Unmarshal(h, &v); err != nil {
			return nil, fmt.Errorf("route config %s: %v", rc.GetName(), err)
		}
		cv, err := compileVhostFor(&v, t.perFilter)
		if err != nil {
			return nil, fmt.Errorf("route config %s: %v", rc.GetName(), err)
		}
		if reuse {
			next[string(h)] = cv
		}
		vhs = append(vhs, cv)
	}
	return t.link(vhs)
}
