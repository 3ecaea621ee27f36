package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/portico-gw/portico/internal/resource"
)

// TestMemoRunsEqualFreshRuns edits files one step at a time and loads them
// through a resource.Cache, as the file provider does (unchanged documents
// keep their objects, which is what the memos key on). Each step's run
// with the memo must equal a fresh run: the IR, every xDS resource byte
// for byte, and every status. Steps change routes, and also what routes
// depend on (a Service, a ReferenceGrant, the Gateway), which the memos
// must notice.
func TestMemoRunsEqualFreshRuns(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	route := func(name, host, svc, ns string, port int) string {
		return strings.NewReplacer("NAME", name, "HOST", host, "SVC", svc, "NS", ns, "PORT", itoa(port)).Replace(`apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: NAME, namespace: default}
spec:
  parentRefs: [{name: eg}]
  hostnames: [HOST]
  rules:
  - matches: [{path: {type: PathPrefix, value: /a}}, {path: {type: Exact, value: /b}}]
    filters: [{type: RequestHeaderModifier, requestHeaderModifier: {add: [{name: x-r, value: NAME}]}}]
    backendRefs: [{name: SVC, namespace: NS, port: PORT}]
`)
	}
	gateway := func(port int) string {
		return `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: eg}
spec: {controllerName: gateway.envoyproxy.io/gatewayclass-controller}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: eg, namespace: default}
spec:
  gatewayClassName: eg
  listeners: [{name: http, protocol: HTTP, port: ` + itoa(port) + `, allowedRoutes: {namespaces: {from: All}}}]
`
	}
	service := func(name, ns, ip string, port int) string {
		return `apiVersion: v1
kind: Service
metadata: {name: ` + name + `, namespace: ` + ns + `}
spec:
  clusterIP: ` + ip + `
  ports: [{name: http, port: ` + itoa(port) + `}]
`
	}
	grant := `apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: g, namespace: other}
spec:
  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: default}]
  to: [{group: "", kind: Service}]
`
	steps := []struct {
		name string
		do   func()
	}{
		{"start", func() {
			write("gw.yaml", gateway(80))
			write("svc.yaml", service("web", "default", "10.0.0.1", 8080)+"---\n"+service("far", "other", "10.0.0.2", 9090))
			write("grant.yaml", grant)
			write("r1.yaml", route("r1", "one.example.com", "web", "default", 8080))
			write("r2.yaml", route("r2", "two.example.com", "far", "other", 9090))
		}},
		{"nothing changes", func() {}},
		{"a route changes host", func() { write("r1.yaml", route("r1", "uno.example.com", "web", "default", 8080)) }},
		{"a route is added", func() { write("r3.yaml", route("r3", "three.example.com", "web", "default", 8080)) }},
		{"a Service moves", func() {
			write("svc.yaml", service("web", "default", "10.0.0.7", 8080)+"---\n"+service("far", "other", "10.0.0.2", 9090))
		}},
		{"the grant goes", func() { os.Remove(filepath.Join(dir, "grant.yaml")) }},
		{"the grant comes back", func() { write("grant.yaml", grant) }},
		{"the Gateway port changes", func() { write("gw.yaml", gateway(8080)) }},
		{"a route goes", func() { os.Remove(filepath.Join(dir, "r2.yaml")) }},
	}
	cache := resource.NewCache()
	memo := NewMemo()
	cfg := config(false)
	for _, st := range steps {
		st.do()
		cache.ChangedAll() // same-sized rewrites within a time stamp tick
		set, problems, err := cache.Load([]string{dir})
		if err != nil || len(problems) > 0 {
			t.Fatalf("%s: %v %v", st.name, err, problems)
		}
		got := Run(context.Background(), set, cfg, Options{Memo: memo})
		want := Run(context.Background(), set, cfg, Options{})
		if g, w := marshalJSON(t, got.Gateway), marshalJSON(t, want.Gateway); !bytes.Equal(g, w) {
			t.Fatalf("%s: statuses or IR differ from a fresh run:\n%s\nwant\n%s", st.name, g, w)
		}
		if len(got.Fleets) != len(want.Fleets) {
			t.Fatalf("%s: %d fleets, want %d", st.name, len(got.Fleets), len(want.Fleets))
		}
		for i, f := range got.Fleets {
			g, w := f.Resources.ByType(), want.Fleets[i].Resources.ByType()
			for typ, list := range w {
				if len(g[typ]) != len(list) {
					t.Fatalf("%s: %d %s, want %d", st.name, len(g[typ]), typ, len(list))
				}
				for k, r := range list {
					a, _ := proto.MarshalOptions{Deterministic: true}.Marshal(g[typ][k])
					b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(r)
					if !bytes.Equal(a, b) {
						t.Fatalf("%s: %s %d differs from a fresh run", st.name, typ, k)
					}
				}
			}
		}
	}
}

func marshalJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}
