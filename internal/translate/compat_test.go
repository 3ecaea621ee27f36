package translate

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// compatCase says how one egctl output differs from Portico's on purpose.
type compatCase struct {
	// skip names features Portico does not translate yet; the case is not run.
	skip string
	// ignore lists JSON paths (prefixes, "/"-separated) left out of the
	// comparison, each with the reason in the comment next to it.
	ignore []string
	// addMissing runs with --add-missing-resources, as egctl's test did.
	addMissing bool
}

// Known differences between egctl's output and Portico's, per output file.
// Paths use the document's keys ("~1" for a "/" inside one); "*" matches
// any one element.
var compatCases = map[string]compatCase{
	"quickstart.all.yaml": {ignore: []string{
		"gatewayClass/status", // egctl omits the class status when it prints the IR
		"infraIR",             // Kubernetes infrastructure IR: Portico's host infra needs none
		"xdsIR/*/http/*/routes/*/destination/settings/*/addressType", // Portico states the address type explicitly
	}},
	"quickstart.route.yaml":         {},
	"echo-gateway-api.cluster.yaml": {},
	"echo-gateway-api.route.json":   {},
	// The input defines HTTPRoute default/backend twice (one for each
	// Gateway). A cluster keeps one of them; egctl translates both. Portico
	// keeps the first, for eg, and reports the second, so eg2's route
	// configuration has no virtual host; everything else is compared.
	"multiple-xds.route.json":    {ignore: []string{"xds/default~1eg2/dynamicRouteConfigs/*/routeConfig/virtualHosts"}},
	"default-namespace.all.yaml": {},
	// egctl's test ran this one with --add-missing-resources: the Service
	// without a cluster IP gets 1.2.3.4.
	"no-service-cluster-ip.all.yaml": {addMissing: true},

	"backend-endpoint.all.yaml": {},
	// default-resources names its Service providedBackend, which the API
	// server (and Portico) reject as an invalid name, and
	// --add-missing-resources gives it egctl's default EnvoyProxy, whose
	// bootstrap Portico reports as not applied (the built-in proxy has no
	// bootstrap). Its TCP, UDP, TLS and gRPC routes match.
	"default-resources.all.yaml": {skip: "the added Service's address (1.2.3.4 here, 1.1.1.1 in egctl's output) and the EnvoyProxy bootstrap " +
		"Portico reports as not applied differ", addMissing: true},
	// Portico says which EnvoyProxy fields have no effect on its host
	// infrastructure (spec.provider) in the Accepted message.
	"valid-envoyproxy.all.yaml": {ignore: []string{"envoyProxyForGatewayClass/status/ancestors/*/conditions/*/message"}},
	// The bootstrap is judged as Envoy Gateway judges it. The Gateway's
	// listeners and routes are not printed by egctl once the class is
	// invalid, and neither by Portico.
	"invalid-envoyproxy.all.yaml": {},
	"envoy-patch-policy.all.yaml": {skip: "printed by an older Envoy Gateway: its bootstrap, ready listener, rate limit cluster, " +
		"text access log and route configuration (no virtual hosts, no EDS) are not today's"},
}

func init() {
	// HTTP, gRPC, TCP, UDP and TLS passthrough routes: every output matches.
	for _, t := range []string{"bootstrap.yaml", "all.json", "all.yaml", "cluster.yaml", "endpoint.yaml", "listener.yaml", "route.yaml"} {
		compatCases["from-gateway-api-to-xds."+t] = compatCase{}
	}
	compatCases["jwt-single-route-single-match-to-xds.bootstrap.yaml"] = compatCase{}
	for _, t := range []string{"all.json", "all.yaml", "cluster.yaml", "listener.yaml", "route.yaml"} {
		compatCases["jwt-single-route-single-match-to-xds."+t] = compatCase{}
	}
	compatCases["jwt-single-route-single-match-to-xds.endpoint.yaml"] = compatCase{
		skip: "printed by an older egctl (fleet key envoy-gateway-system-eg, cluster envoy-gateway-system-backend-rule-0-match-0-www.example.com, " +
			"no endpoint metadata or locality); the same case's cluster, listener and route outputs are today's and compared"}
}

// TestEgctlCompat runs every egctl corpus case and compares the documents.
func TestEgctlCompat(t *testing.T) {
	outs, err := filepath.Glob("testdata/egctl/out/*")
	if err != nil {
		t.Fatal(err)
	}
	for _, outPath := range outs {
		name := filepath.Base(outPath)
		t.Run(name, func(t *testing.T) {
			c, known := compatCases[name]
			if !known {
				t.Fatalf("corpus output %s has no entry in compatCases: decide whether Portico matches it", name)
			}
			if c.skip != "" {
				t.Skip(c.skip)
			}
			want := readDoc(t, outPath)
			parts := strings.Split(name, ".")
			in := filepath.Join("testdata/egctl/in", parts[0]+".yaml")
			report, err := Run(Options{Paths: []string{in}, To: toFromKeys(want), Types: []string{parts[1]}, AddMissingResources: c.addMissing})
			if err != nil {
				t.Fatalf("translate: %v", err)
			}
			data, err := report.Output.Marshal("json")
			if err != nil {
				t.Fatal(err)
			}
			var got any
			if err := json.Unmarshal(data, &got); err != nil {
				t.Fatal(err)
			}
			for _, p := range c.ignore {
				drop(got, ignorePath(p))
				drop(want, ignorePath(p))
			}
			if diffs := diffDocs("", want, got); len(diffs) > 0 {
				if len(diffs) > 20 {
					diffs = append(diffs[:20], fmt.Sprintf("... and %d more", len(diffs)-20))
				}
				t.Errorf("%s differs from egctl:\n%s", name, strings.Join(diffs, "\n"))
			}
		})
	}
}

func readDoc(t *testing.T, path string) any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(path, ".yaml") {
		if data, err = yaml.YAMLToJSON(data); err != nil {
			t.Fatal(err)
		}
	}
	var doc any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// toFromKeys infers egctl's --to from the keys of its output.
func toFromKeys(doc any) []string {
	var to []string
	m, _ := doc.(map[string]any)
	for k := range m {
		switch k {
		case "xds":
			to = append(to, ToXDS)
		case "xdsIR", "infraIR":
			if !contains(to, ToIR) {
				to = append(to, ToIR)
			}
		default:
			if !contains(to, ToGatewayAPI) {
				to = append(to, ToGatewayAPI)
			}
		}
	}
	sort.Strings(to)
	return to
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// ignorePath splits an ignore path into keys; as in a JSON pointer, "~1"
// in a key stands for "/" (fleet keys are <namespace>/<gateway>).
func ignorePath(p string) []string {
	keys := strings.Split(p, "/")
	for i, k := range keys {
		keys[i] = strings.ReplaceAll(k, "~1", "/")
	}
	return keys
}

// drop deletes the value at path ("*" = every element or key).
func drop(doc any, path []string) {
	if len(path) == 0 {
		return
	}
	switch v := doc.(type) {
	case map[string]any:
		if path[0] == "*" {
			for _, child := range v {
				drop(child, path[1:])
			}
			return
		}
		if len(path) == 1 {
			delete(v, path[0])
			return
		}
		drop(v[path[0]], path[1:])
	case []any:
		if path[0] == "*" {
			for _, child := range v {
				drop(child, path[1:])
			}
		}
	}
}

// diffDocs lists the paths where two JSON documents differ.
func diffDocs(path string, want, got any) []string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: want an object, got %v", path, short(got))}
		}
		var out []string
		keys := map[string]bool{}
		for k := range w {
			keys[k] = true
		}
		for k := range g {
			keys[k] = true
		}
		for _, k := range slices.Sorted(maps.Keys(keys)) {
			wv, wok := w[k]
			gv, gok := g[k]
			switch {
			case !gok:
				out = append(out, fmt.Sprintf("%s/%s: missing (want %s)", path, k, short(wv)))
			case !wok:
				out = append(out, fmt.Sprintf("%s/%s: unexpected %s", path, k, short(gv)))
			default:
				out = append(out, diffDocs(path+"/"+k, wv, gv)...)
			}
		}
		return out
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return []string{fmt.Sprintf("%s: want %s, got %s", path, short(want), short(got))}
		}
		var out []string
		for i := range w {
			out = append(out, diffDocs(fmt.Sprintf("%s/%d", path, i), w[i], g[i])...)
		}
		return out
	default:
		if !reflect.DeepEqual(want, got) {
			return []string{fmt.Sprintf("%s: want %s, got %s", path, short(want), short(got))}
		}
		return nil
	}
}

func short(v any) string {
	data, _ := json.Marshal(v)
	if len(data) > 160 {
		return string(data[:160]) + "..."
	}
	return string(data)
}
