package translator

import (
	"bytes"
	"fmt"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/portico-gw/portico/internal/ir"
	"github.com/portico-gw/portico/internal/xds/xdstypes"
)

// memoIR is one listener with a route per backend port in ports; routes
// listed in tls verify their backend with the shared CA "ca".
func memoIR(ports []uint32, tls map[int]bool, ca string) *ir.Xds {
	l := &ir.HTTPListener{Name: "default/eg/http", Address: "0.0.0.0", Port: 10080, Hostnames: []string{"*"}}
	for i, p := range ports {
		st := &ir.DestinationSetting{Name: fmt.Sprintf("httproute/default/r%d/rule/0/backend/0", i), Protocol: "HTTP",
			Endpoints: []*ir.DestinationEndpoint{{Host: "10.0.0.1", Port: p}}}
		if tls[i] {
			st.TLS = &ir.TLSUpstreamConfig{CACertificate: &ir.TLSCACertificate{Name: "ca", Certificate: []byte(ca)}}
		}
		l.Routes = append(l.Routes, &ir.HTTPRoute{Name: fmt.Sprintf("httproute/default/r%d/rule/0/match/0/*", i), Hostname: "*",
			PathMatch:   &ir.StringMatch{Prefix: proto.String(fmt.Sprintf("/r%d", i))},
			Destination: &ir.RouteDestination{Name: fmt.Sprintf("httproute/default/r%d/rule/0", i), Settings: []*ir.DestinationSetting{st}}})
	}
	// The last route also mirrors to the first route's cluster: a cluster
	// that is already there when the route asks for it.
	if n := len(l.Routes); n > 1 {
		l.Routes[n-1].Mirrors = []*ir.MirrorPolicy{{Destination: l.Routes[0].Destination}}
	}
	return &ir.Xds{HTTP: []*ir.HTTPListener{l}}
}

func encodeAll(t *testing.T, r *xdstypes.Resources) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for typ, list := range r.ByType() {
		for _, m := range list {
			b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			out[typ+" "+nameOf(m)] = b
		}
	}
	return out
}

func nameOf(m proto.Message) string {
	if n, ok := m.(interface{ GetName() string }); ok {
		return n.GetName()
	}
	return m.(interface{ GetClusterName() string }).GetClusterName()
}

// TestMemoGivesWhatAFreshTranslationGives walks a sequence of edits with
// one Memo: each result must equal a fresh Translate byte for byte, and a
// cluster whose input did not change must be the same message.
func TestMemoGivesWhatAFreshTranslationGives(t *testing.T) {
	steps := []struct {
		name   string
		x      *ir.Xds
		reuse  []int // routes whose cluster must be reused from the step before
		routes []int // routes that must be reused
	}{
		{"start", memoIR([]uint32{1, 2, 3}, map[int]bool{0: true, 2: true}, "ca-1"), nil, nil},
		{"same input", memoIR([]uint32{1, 2, 3}, map[int]bool{0: true, 2: true}, "ca-1"), []int{0, 1, 2}, []int{0, 1, 2}},
		{"one port moves", memoIR([]uint32{1, 5, 3}, map[int]bool{0: true, 2: true}, "ca-1"), []int{0, 2}, []int{0, 2}},
		// r0, which added the CA first, loses TLS: the reused r2 cluster
		// must still bring the secret along. r2 mirrors r0, so its route
		// is rebuilt.
		{"first TLS user drops TLS", memoIR([]uint32{1, 5, 3}, map[int]bool{2: true}, "ca-1"), []int{1, 2}, []int{1}},
		{"CA rotates", memoIR([]uint32{1, 5, 3}, map[int]bool{2: true}, "ca-2"), []int{0, 1}, []int{0, 1}},
		{"a route goes", memoIR([]uint32{1, 5}, map[int]bool{}, "ca-2"), []int{0}, []int{0}},
		{"nothing changes", memoIR([]uint32{1, 5}, map[int]bool{}, "ca-2"), []int{0, 1}, []int{0, 1}},
	}
	m := NewMemo()
	var prev *xdstypes.Resources
	for _, st := range steps {
		got, err := TranslateMemo(st.x, m)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		want, _ := Translate(st.x)
		g, w := encodeAll(t, got), encodeAll(t, want)
		if len(g) != len(w) {
			t.Fatalf("%s: %d resources with the memo, %d without", st.name, len(g), len(w))
		}
		for k, b := range w {
			if !bytes.Equal(g[k], b) {
				t.Fatalf("%s: %s differs from a fresh translation", st.name, k)
			}
		}
		for _, i := range st.reuse {
			name := fmt.Sprintf("httproute/default/r%d/rule/0", i)
			if find(got, name) == nil || find(got, name) != find(prev, name) {
				t.Errorf("%s: cluster %s was rebuilt although its input did not change", st.name, name)
			}
		}
		for _, i := range st.routes {
			if findRoute(got, i) == nil || findRoute(got, i) != findRoute(prev, i) {
				t.Errorf("%s: route %d was rebuilt although its input did not change", st.name, i)
			}
		}
		sameVhost := prev != nil && got.Routes[0].VirtualHosts[0] == prev.Routes[0].VirtualHosts[0]
		if all := prev != nil && len(st.routes) == len(st.x.HTTP[0].Routes); sameVhost != all {
			t.Errorf("%s: virtual host reused %v, want %v", st.name, sameVhost, all)
		}
		prev = got
	}
}

func find(r *xdstypes.Resources, cluster string) proto.Message {
	for _, c := range r.Clusters {
		if c.GetName() == cluster {
			return c
		}
	}
	return nil
}

func findRoute(r *xdstypes.Resources, i int) proto.Message {
	if r == nil {
		return nil
	}
	for _, rt := range r.Routes[0].VirtualHosts[0].Routes {
		if rt.GetName() == fmt.Sprintf("httproute/default/r%d/rule/0/match/0/*", i) {
			return rt
		}
	}
	return nil
}
