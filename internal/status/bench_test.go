package status

import (
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

type routeResult struct {
	Gateways   []*gwapiv1.Gateway
	HTTPRoutes []*gwapiv1.HTTPRoute
}

// reloadOf is what a translation gives after a reload that changed
// nothing: new output objects that share their input's metadata and spec,
// with equal statuses.
func reloadOf(in []*gwapiv1.HTTPRoute) *routeResult {
	r := &routeResult{Gateways: []*gwapiv1.Gateway{gateway("True")}}
	for _, hr := range in {
		out := &gwapiv1.HTTPRoute{TypeMeta: hr.TypeMeta, ObjectMeta: hr.ObjectMeta, Spec: hr.Spec}
		out.Status.Parents = []gwapiv1.RouteParentStatus{{ParentRef: hr.Spec.ParentRefs[0], ControllerName: "gateway.envoyproxy.io/gatewayclass-controller",
			Conditions: []metav1.Condition{{Type: "Accepted", Status: "True", Reason: "Accepted", Message: "Route is accepted", ObservedGeneration: 1},
				{Type: "ResolvedRefs", Status: "True", Reason: "ResolvedRefs", Message: "Resolved all the Object references for the Route", ObservedGeneration: 1}}}}
		r.HTTPRoutes = append(r.HTTPRoutes, out)
	}
	return r
}

// BenchmarkPublishResultsReload1000 publishes the statuses of 1000
// HTTPRoutes after a reload that changed none of them, which the control
// plane does once per change.
//
//	go test ./internal/status -run '^$' -bench PublishResultsReload1000 -benchmem
func BenchmarkPublishResultsReload1000(b *testing.B) {
	var in []*gwapiv1.HTTPRoute
	for i := range 1000 {
		hr := &gwapiv1.HTTPRoute{TypeMeta: metav1.TypeMeta{Kind: "HTTPRoute", APIVersion: "gateway.networking.k8s.io/v1"},
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("route-%d", i), Namespace: "default", Generation: 1}}
		hr.Spec.ParentRefs = []gwapiv1.ParentReference{{Name: "eg"}}
		hr.Spec.Hostnames = []gwapiv1.Hostname{gwapiv1.Hostname(fmt.Sprintf("route-%d.example.com", i))}
		in = append(in, hr)
	}
	s := NewStore(time.Now, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if _, err := s.PublishResults(reloadOf(in)); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		r := reloadOf(in)
		b.StartTimer()
		if _, err := s.PublishResults(r); err != nil {
			b.Fatal(err)
		}
	}
}
