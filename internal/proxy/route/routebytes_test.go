package route

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// routeConfig has n virtual hosts; host i routes /i to cluster c<port[i]>.
func routeConfig(ports []int, tablePerFilter bool) *routev3.RouteConfiguration {
	rc := &routev3.RouteConfiguration{Name: "default/eg/http", IgnorePortInHostMatching: true}
	for i, p := range ports {
		rc.VirtualHosts = append(rc.VirtualHosts, &routev3.VirtualHost{Name: fmt.Sprintf("h%d", i),
			Domains: []string{fmt.Sprintf("h%d.example.com", i)}, Routes: []*routev3.Route{{Name: fmt.Sprintf("r%d", i),
				Match:                &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: fmt.Sprintf("/%d", i)}},
				Action:               &routev3.Route_Route{Route: &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: fmt.Sprintf("c%d", p)}}},
				TypedPerFilterConfig: map[string]*anypb.Any{"envoy.filters.http.lua/x": mustAnyT(&routev3.FilterConfig{})}}}})
	}
	if tablePerFilter {
		rc.TypedPerFilterConfig = map[string]*anypb.Any{"envoy.filters.http.lua/y": mustAnyT(&routev3.FilterConfig{})}
	}
	return rc
}

func mustAnyT(m proto.Message) *anypb.Any {
	a, err := anypb.New(m)
	if err != nil {
		panic(err)
	}
	return a
}

func encode(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Compiling the bytes, with or without virtual hosts to reuse, must give
// the table compiling the message gives; unchanged hosts are shared, the
// edited one is not, and a table-level per-filter config turns reuse off.
func TestCompileRouteBytesReusesUnchangedVirtualHosts(t *testing.T) {
	for _, tablePF := range []bool{false, true} {
		first := map[string]compiledVhost{}
		t1, err := CompileBytes(encode(t, routeConfig([]int{1, 2, 3}, tablePF)), nil, first)
		if err != nil {
			t.Fatal(err)
		}
		edited := routeConfig([]int{1, 9, 3}, tablePF)
		second := map[string]compiledVhost{}
		t2, err := CompileBytes(encode(t, edited), first, second)
		if err != nil {
			t.Fatal(err)
		}
		want, err := CompileConfig(edited)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(t2, want) {
			t.Fatalf("table per-filter %v: compiled from bytes with reuse, the table differs from a fresh compile", tablePF)
		}
		for i, shared := range []bool{!tablePF, false, !tablePF} {
			host := fmt.Sprintf("h%d.example.com", i)
			if got := t1.exact[host] == t2.exact[host]; got != shared {
				t.Errorf("table per-filter %v: host %d shared %v, want %v", tablePF, i, got, shared)
			}
		}
		if !tablePF && len(second) != 3 {
			t.Errorf("%d virtual hosts recorded for the next response, want 3", len(second))
		}
	}
}

func TestCompileRouteBytesRejectsGarbage(t *testing.T) {
	good := encode(t, routeConfig([]int{1}, false))
	for name, raw := range map[string][]byte{
		"truncated":        good[:len(good)-3],
		"bad tag":          {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		"bad virtual host": append(append([]byte{}, good...), 0x12, 0x02, 0x0a, 0x05),
	} {
		if _, err := CompileBytes(raw, nil, map[string]compiledVhost{}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// A duplicate domain across a reused and a new host is still caught.
	rc := routeConfig([]int{1, 2}, false)
	rc.VirtualHosts[1].Domains = rc.VirtualHosts[0].Domains
	prev := map[string]compiledVhost{}
	if _, err := CompileBytes(encode(t, routeConfig([]int{1}, false)), nil, prev); err != nil {
		t.Fatal(err)
	}
	if _, err := CompileBytes(encode(t, rc), prev, map[string]compiledVhost{}); err == nil || !strings.Contains(err.Error(), "duplicate domain") {
		t.Fatalf("duplicate domain: %v", err)
	}
}

// FuzzCompileRouteBytes: route configurations arrive as bytes from the
// control plane. Whatever they hold, compiling must not panic, and when
// they decode, splitting at the virtual hosts (with or without reuse) must
// agree with compiling the decoded message.
//
//	go test ./internal/proxy/route -run XXX -fuzz FuzzCompileRouteBytes -fuzztime 30s
func FuzzCompileRouteBytes(f *testing.F) {
	for _, rc := range []*routev3.RouteConfiguration{routeConfig([]int{1, 2}, false), routeConfig([]int{3}, true), {Name: "empty"}} {
		b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(rc)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		prev := map[string]compiledVhost{}
		got, err := CompileBytes(raw, nil, prev)
		var rc routev3.RouteConfiguration
		if uerr := proto.Unmarshal(raw, &rc); uerr != nil {
			return // undecodable bytes: an error is all that is asked
		}
		want, werr := CompileConfig(&rc)
		if (err == nil) != (werr == nil) {
			t.Fatalf("bytes: %v; message: %v", err, werr)
		}
		if err != nil {
			return
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatal("compiling the bytes and the message differ")
		}
		// Again, reusing every virtual host just compiled.
		again, err := CompileBytes(raw, prev, map[string]compiledVhost{})
		if err != nil || !reflect.DeepEqual(again, want) {
			t.Fatalf("with reuse: %v", err)
		}
	})
}
