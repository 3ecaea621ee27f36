package gatewayapi

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwapiv1a2 "sigs.k8s.io/gateway-api/apis/v1alpha2"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
	"github.com/portico-gw/portico/internal/ir"
	"github.com/portico-gw/portico/internal/resource"
	"github.com/portico-gw/portico/internal/support"
)

// ledgerBase is the scene every ledger row is played in: route "r" (rule 0)
// sends to Service backend, route "rb" to Backend "b".
const ledgerBase = `
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: eg}
spec: {controllerName: gateway.envoyproxy.io/gatewayclass-controller}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: eg, namespace: default}
spec:
  gatewayClassName: eg
  infrastructure:
    parametersRef: {group: gateway.envoyproxy.io, kind: EnvoyProxy, name: p}
  listeners:
  - {name: http, protocol: HTTP, port: 80}
  - {name: tls, protocol: TLS, port: 8443, hostname: tls.example.com, tls: {mode: Passthrough}}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: EnvoyProxy
metadata: {name: p, namespace: default}
spec: {}
---
apiVersion: v1
kind: Service
metadata: {name: backend, namespace: default}
spec: {clusterIP: 10.0.0.1, ports: [{name: http, port: 3000}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: default}
spec:
  parentRefs: [{name: eg, sectionName: http}]
  hostnames: [r.example.com]
  rules:
  - backendRefs: [{name: backend, port: 3000}]
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: b, namespace: default}
spec:
  endpoints: [{ip: {address: 10.0.0.2, port: 3000}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: rb, namespace: default}
spec:
  parentRefs: [{name: eg, sectionName: http}]
  hostnames: [rb.example.com]
  rules:
  - backendRefs: [{group: gateway.envoyproxy.io, kind: Backend, name: b}]
`

// TestLedgerRowsProduceTheirCondition sets each field the ledger marks not
// supported (or without effect) on an object, translates, and checks that
// the condition of the row's effect names the field, and that security
// controls fail closed. A row whose field the translators ignore fails here.
func TestLedgerRowsProduceTheirCondition(t *testing.T) {
	for _, e := range support.Ledger {
		if e.State == support.Supported {
			continue
		}
		t.Run(e.Kind+"/"+e.Path+"/"+e.Value, func(t *testing.T) {
			set, problems := resource.LoadBytes("base.yaml", []byte(ledgerBase), resource.WithDefaultNamespace("default"))
			if len(problems) > 0 {
				t.Fatal(problems)
			}
			name := placeObject(t, set, e)
			r := Translate(set, Options{EnableBackend: true, EnableLua: true, HostInfrastructure: true})
			checkEffect(t, r, e, name)
		})
	}
}

// placeObject puts an object of the row's kind with the row's field set
// where the base scene uses it, and returns the word its condition must name.
func placeObject(t *testing.T, set *resource.Set, e support.Entry) string {
	route := gwapiv1a2.LocalPolicyTargetReferenceWithSectionName{LocalPolicyTargetReference: gwapiv1.LocalPolicyTargetReference{
		Group: gwapiv1.GroupName, Kind: kindHTTPRoute, Name: "r"}}
	parent := []gwapiv1.ParentReference{{Name: "eg", SectionName: ptr(gwapiv1.SectionName("http"))}}
	meta := metav1.ObjectMeta{Name: "x", Namespace: "default"}
	var obj any
	switch e.Kind {
	case "Gateway":
		obj = set.Gateways[0]
	case "HTTPRoute":
		obj = set.HTTPRoutes[0]
	case "EnvoyProxy":
		obj = set.EnvoyProxies[0]
	case "Backend":
		obj = set.Backends[0]
	case "SecurityPolicy":
		p := &egv1a1.SecurityPolicy{ObjectMeta: meta}
		p.Spec.TargetRefs = []gwapiv1a2.LocalPolicyTargetReferenceWithSectionName{route}
		set.SecurityPolicies, obj = append(set.SecurityPolicies, p), p
	case "EnvoyExtensionPolicy":
		p := &egv1a1.EnvoyExtensionPolicy{ObjectMeta: meta}
		p.Spec.TargetRefs = []gwapiv1a2.LocalPolicyTargetReferenceWithSectionName{route}
		set.EnvoyExtensionPolicies, obj = append(set.EnvoyExtensionPolicies, p), p
	case "GRPCRoute":
		g := &gwapiv1.GRPCRoute{ObjectMeta: meta, Spec: gwapiv1.GRPCRouteSpec{CommonRouteSpec: gwapiv1.CommonRouteSpec{ParentRefs: parent}}}
		set.GRPCRoutes, obj = append(set.GRPCRoutes, g), g
	case "TCPRoute":
		r := &gwapiv1.TCPRoute{ObjectMeta: meta, Spec: gwapiv1.TCPRouteSpec{CommonRouteSpec: gwapiv1.CommonRouteSpec{ParentRefs: parent}}}
		set.TCPRoutes, obj = append(set.TCPRoutes, r), r
	case "TLSRoute":
		tls := []gwapiv1.ParentReference{{Name: "eg", SectionName: ptr(gwapiv1.SectionName("tls"))}}
		r := &gwapiv1.TLSRoute{ObjectMeta: meta, Spec: gwapiv1.TLSRouteSpec{CommonRouteSpec: gwapiv1.CommonRouteSpec{ParentRefs: tls},
			Rules: []gwapiv1.TLSRouteRule{{BackendRefs: []gwapiv1.BackendRef{{BackendObjectReference: gwapiv1.BackendObjectReference{Name: "backend", Port: ptr(gwapiv1.PortNumber(3000))}}}}}}}
		set.TLSRoutes, obj = append(set.TLSRoutes, r), r
	case "UDPRoute":
		r := &gwapiv1.UDPRoute{ObjectMeta: meta, Spec: gwapiv1.UDPRouteSpec{CommonRouteSpec: gwapiv1.CommonRouteSpec{ParentRefs: parent}}}
		set.UDPRoutes, obj = append(set.UDPRoutes, r), r
	case "ListenerSet":
		set.ListenerSets = append(set.ListenerSets, &gwapiv1.ListenerSet{ObjectMeta: meta, Spec: gwapiv1.ListenerSetSpec{
			ParentRef: gwapiv1.ParentGatewayReference{Name: "eg"},
			Listeners: []gwapiv1.ListenerEntry{{Name: "l", Port: 8080, Protocol: gwapiv1.HTTPProtocolType}}}})
	case "BackendTLSPolicy":
		system := gwapiv1.WellKnownCACertificatesSystem
		p := &gwapiv1.BackendTLSPolicy{ObjectMeta: meta, Spec: gwapiv1.BackendTLSPolicySpec{
			TargetRefs: []gwapiv1.LocalPolicyTargetReferenceWithSectionName{{LocalPolicyTargetReference: gwapiv1.LocalPolicyTargetReference{Kind: "Service", Name: "backend"}}},
			Validation: gwapiv1.BackendTLSPolicyValidation{WellKnownCACertificates: &system, Hostname: "backend.example.com"}}}
		set.BackendTLSPolicies, obj = append(set.BackendTLSPolicies, p), p
	default:
		t.Fatalf("no scene for kind %s: add one", e.Kind)
	}
	switch {
	case e.Path == "spec":
		return e.Kind
	case e.Kind == "EnvoyProxy" && e.Path == "spec.bootstrap":
		// A valid bootstrap: an invalid one is another condition
		// (InvalidParameters), tested with the bootstrap package.
		merge := egv1a1.BootstrapTypeMerge
		set.EnvoyProxies[0].Spec.Bootstrap = &egv1a1.ProxyBootstrap{Type: &merge, Value: ptr("stats_flush_interval: 10s\n")}
		return "bootstrap"
	}
	fill(t, reflect.ValueOf(obj), strings.Split(e.Path, "."), e.Value)
	segs := strings.Split(e.Path, ".")
	return strings.TrimSuffix(segs[len(segs)-1], "[]")
}

// fill sets a non-zero value at path (json names, "[]" for list elements),
// allocating on the way. HTTPRoute filters also get the matching type.
func fill(t *testing.T, v reflect.Value, segs []string, value string) {
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		v = v.Elem()
	}
	if len(segs) == 0 {
		fillLeaf(v, value)
		return
	}
	name, list := strings.CutSuffix(segs[0], "[]")
	f, ok := jsonField(v, name)
	if !ok {
		t.Fatalf("no field %s in %s", name, v.Type())
	}
	if filterType := map[string]gwapiv1.HTTPRouteFilterType{"cors": "CORS", "externalAuth": "ExternalAuth", "extensionRef": "ExtensionRef"}[name]; filterType != "" &&
		(v.Type() == reflect.TypeOf(gwapiv1.HTTPRouteFilter{}) || v.Type() == reflect.TypeOf(gwapiv1.GRPCRouteFilter{})) {
		v.FieldByName("Type").SetString(string(filterType))
	}
	if list {
		for f.Kind() == reflect.Pointer {
			f.Set(reflect.New(f.Type().Elem()))
			f = f.Elem()
		}
		if f.Len() == 0 {
			f.Set(reflect.Append(f, reflect.Zero(f.Type().Elem())))
		}
		f = f.Index(0)
	}
	fill(t, f, segs[1:], value)
}

func fillLeaf(v reflect.Value, value string) {
	switch {
	case v.Type().Name() == "JSON":
		v.FieldByName("Raw").SetBytes([]byte(`{"x":1}`))
	case v.Kind() == reflect.String && value != "":
		v.SetString(value)
	case v.Kind() == reflect.String:
		v.SetString("x")
	case v.Kind() == reflect.Bool:
		v.SetBool(true)
	case v.CanInt():
		v.SetInt(1)
	case v.Kind() == reflect.Slice:
		v.Set(reflect.Append(v, reflect.Zero(v.Type().Elem())))
		fillLeaf(v.Index(0), value)
	case v.Kind() == reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, el := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fillLeaf(k, "k")
		fillLeaf(el, "debug")
		m.SetMapIndex(k, el)
		v.Set(m)
	case v.Kind() == reflect.Struct && v.NumField() > 0:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() && v.Type().Field(i).Name != "TypeMeta" {
				fillLeaf(v.Field(i), value)
				return
			}
		}
	}
}

func jsonField(v reflect.Value, name string) (reflect.Value, bool) {
	for i := range v.NumField() {
		sf := v.Type().Field(i)
		tag, opts, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if sf.Anonymous && (tag == "" || strings.Contains(opts, "inline")) {
			if f, ok := jsonField(v.Field(i), name); ok {
				return f, true
			}
			continue
		}
		if tag == name {
			return v.Field(i), true
		}
	}
	return reflect.Value{}, false
}

// checkEffect finds, in the result, the condition the row's effect
// promises and checks that it names the field.
func checkEffect(t *testing.T, r *Result, e support.Entry, name string) {
	t.Helper()
	routeR, routeRB := ledgerIRRoute(r, "r"), ledgerIRRoute(r, "rb")
	if e.Kind == kindGRPCRoute {
		routeR = ledgerIRRoute(r, "x") // the rule at fault is the GRPCRoute's
	}
	want := func(obj any, condType, status, reason string) {
		t.Helper()
		if !hasCondition(obj, condType, status, reason, name) {
			b, _ := json.Marshal(obj)
			t.Fatalf("no %s=%s (%s) condition naming %q in:\n%s", condType, status, reason, name, b)
		}
	}
	fails500 := func(what string, answers500 bool) {
		t.Helper()
		if !answers500 {
			t.Fatalf("%s must answer 500", what)
		}
	}
	switch {
	case e.State == support.NoEffect:
		want(statusOf(r, e.Kind), "Accepted", "True", "")
	case e.Effect == support.KindRejected:
		want(statusOf(r, e.Kind), "Accepted", "False", ReasonUnsupportedKind)
		if e.Kind == "BackendTLSPolicy" {
			fails500("route r to the targeted Service", routeR != nil && routeR.DirectResponse != nil && routeR.DirectResponse.StatusCode == 500)
		}
	case e.Effect == support.PolicyRejected:
		want(statusOf(r, e.Kind), "Accepted", "False", ReasonUnsupportedField)
	case e.Effect == support.FailClosed, e.Effect == support.FailClosedUnlessFailOpen:
		want(statusOf(r, e.Kind), "Accepted", "False", ReasonUnsupportedField)
		fails500("route r", routeR != nil && routeR.DirectResponse != nil && routeR.DirectResponse.StatusCode == 500)
	case e.Effect == support.RuleFails:
		// The scene's routes have one rule: with it failing none is left,
		// so the route is not accepted (TestRouteStatusWhenRulesFail has
		// the PartiallyInvalid side).
		want(statusOf(r, e.Kind), "Accepted", "False", string(gwapiv1.RouteReasonUnsupportedValue))
		fails500("route r", routeR != nil && routeR.DirectResponse != nil && routeR.DirectResponse.StatusCode == 500)
	case e.Effect == support.RouteNoted:
		want(statusOf(r, e.Kind), "PartiallyInvalid", "True", string(gwapiv1.RouteReasonUnsupportedValue))
	case e.Effect == support.ListenerRejected:
		want(statusOf(r, e.Kind), "Accepted", "False", string(gwapiv1.ListenerReasonUnsupportedValue))
	case e.Effect == support.BackendRejected:
		want(statusOf(r, e.Kind), "Accepted", "False", "")
		fails500("route rb to the Backend", routeRB != nil && routeRB.DirectResponse != nil && routeRB.DirectResponse.StatusCode == 500)
	case e.Effect == support.GatewayNoted:
		want(statusOf(r, e.Kind), "Accepted", "False", ReasonUnsupportedField)
	default:
		t.Fatalf("no check for effect %v", e.Effect)
	}
}

// statusOf returns the objects of a kind in the result.
func statusOf(r *Result, kind string) any {
	switch kind {
	case "EnvoyProxy":
		return append(append([]*egv1a1.EnvoyProxy(nil), r.EnvoyProxies...), r.EnvoyProxiesForGateways...)
	}
	v := reflect.ValueOf(r).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		if f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.Pointer && f.Type().Elem().Elem().Name() == kind {
			return f.Interface()
		}
	}
	return nil
}

// hasCondition looks through the JSON of objs for a condition of the type
// and status (and reason, when given) whose message names the field.
func hasCondition(objs any, condType, status, reason, name string) bool {
	b, _ := json.Marshal(objs)
	var generic any
	_ = json.Unmarshal(b, &generic)
	found := false
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if x["type"] == condType && x["status"] == status && (reason == "" || x["reason"] == reason) &&
				strings.Contains(strings.ToLower(strings.ReplaceAll(x["message"].(string), "[0]", "")), strings.ToLower(name)) {
				found = true
			}
			for _, c := range x {
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(generic)
	return found
}

func ledgerIRRoute(r *Result, route string) *ir.HTTPRoute {
	x := r.XdsIR["default/eg"]
	if x == nil {
		return nil
	}
	for _, l := range x.HTTP {
		for _, rt := range l.Routes {
			if rt.Metadata != nil && rt.Metadata.Name == route {
				return rt
			}
		}
	}
	return nil
}
