package extension

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	basicauthv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/basic_auth/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	"k8s.io/apimachinery/pkg/api/resource"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
	"github.com/portico-gw/portico/internal/xds/translator"
	"github.com/portico-gw/portico/internal/xds/xdstypes"
	sdk "github.com/portico-gw/portico/pkg/extension"
	pb "github.com/portico-gw/portico/proto/extension"
)

func addHeader(r *routev3.Route, v string) {
	r.RequestHeadersToAdd = append(r.RequestHeadersToAdd, &corev3.HeaderValueOption{
		Header: &corev3.HeaderValue{Key: "x-ext", Value: v},
	})
}

func headers(r *routev3.Route) string {
	var vs []string
	for _, h := range r.GetRequestHeadersToAdd() {
		vs = append(vs, h.GetHeader().GetValue())
	}
	return strings.Join(vs, ",")
}

// TestEveryHook runs each hook once against one server and checks what it
// was sent and that its answer landed in the right place.
func TestEveryHook(t *testing.T) {
	var gotRefs, gotHosts, gotListenerPols, gotBackends, gotTranslatePols atomic.Value
	srv := &fakeServer{
		route: func(r *pb.PostRouteModifyRequest) (*pb.PostRouteModifyResponse, error) {
			gotRefs.Store(len(r.GetPostRouteContext().GetExtensionResources()))
			gotHosts.Store(strings.Join(r.GetPostRouteContext().GetHostnames(), ","))
			rt := proto.Clone(r.Route).(*routev3.Route)
			addHeader(rt, "route")
			return &pb.PostRouteModifyResponse{Route: rt}, nil
		},
		vhost: func(r *pb.PostVirtualHostModifyRequest) (*pb.PostVirtualHostModifyResponse, error) {
			vh := proto.Clone(r.VirtualHost).(*routev3.VirtualHost)
			vh.Domains = append(vh.Domains, "extra.example.com")
			return &pb.PostVirtualHostModifyResponse{VirtualHost: vh}, nil
		},
		listener: func(r *pb.PostHTTPListenerModifyRequest) (*pb.PostHTTPListenerModifyResponse, error) {
			gotListenerPols.Store(len(r.GetPostListenerContext().GetExtensionResources()))
			l := r.Listener
			if _, err := sdk.EditHCM(l, func(h *hcmv3.HttpConnectionManager) error {
				return sdk.AddHTTPFilter(h, "envoy.filters.http.basic_auth", &basicauthv3.BasicAuth{
					Users: &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: "u:{SHA}x"}},
				})
			}); err != nil {
				return nil, err
			}
			return &pb.PostHTTPListenerModifyResponse{Listener: l}, nil
		},
		cluster: func(r *pb.PostClusterModifyRequest) (*pb.PostClusterModifyResponse, error) {
			gotBackends.Store(len(r.GetPostClusterContext().GetBackendExtensionResources()))
			c := r.Cluster
			c.ConnectTimeout = durationpb.New(7 * time.Second)
			return &pb.PostClusterModifyResponse{Cluster: c}, nil
		},
		endpoints: func(r *pb.PostEndpointsModifyRequest) (*pb.PostEndpointsModifyResponse, error) {
			cla := r.LoadAssignment
			cla.Policy = &endpointPolicy{OverprovisioningFactor: wrapperspb.UInt32(150)}
			return &pb.PostEndpointsModifyResponse{LoadAssignment: cla}, nil
		},
		translate: func(r *pb.PostTranslateModifyRequest) (*pb.PostTranslateModifyResponse, error) {
			gotTranslatePols.Store(len(r.GetPostTranslateContext().GetExtensionResources()))
			if len(r.Listeners) != 0 || len(r.Routes) != 0 {
				return nil, status.Error(codes.InvalidArgument, "listeners and routes are not included by default")
			}
			cs := append(r.Clusters, &clusterv3.Cluster{Name: "ext-added", ConnectTimeout: durationpb.New(time.Second)})
			return &pb.PostTranslateModifyResponse{Clusters: cs, Secrets: r.Secrets}, nil
		},
	}
	m := newManager(t, Options{}, &egv1a1.ExtensionManager{Service: serveTCP(t, srv), Hooks: allHooks()})
	x := fixture(2)
	res := translateFixture(t, x)
	if err := translator.ApplyHooks(context.Background(), x, res, m); err != nil {
		t.Fatal(err)
	}
	if err := translator.ApplyTranslateHook(context.Background(), x, res, m); err != nil {
		t.Fatal(err)
	}
	rs := routesOf(res)
	if headers(rs[0]) != "route" || headers(rs[1]) != "" {
		t.Errorf("route hook: only the route with an extensionRef changes; got %q, %q", headers(rs[0]), headers(rs[1]))
	}
	if gotRefs.Load() != 1 || gotHosts.Load() != "*" {
		t.Errorf("route context: refs %v hostnames %v", gotRefs.Load(), gotHosts.Load())
	}
	if d := res.Routes[0].VirtualHosts[0].Domains; len(d) != 2 || d[1] != "extra.example.com" {
		t.Errorf("virtual host hook: domains %v", d)
	}
	if gotListenerPols.Load() != 1 {
		t.Errorf("listener context: %v policies", gotListenerPols.Load())
	}
	n := 0
	if _, err := sdk.EditHCM(res.Listeners[0], func(h *hcmv3.HttpConnectionManager) error {
		if len(h.HttpFilters) < 2 || h.HttpFilters[len(h.HttpFilters)-2].Name != "envoy.filters.http.basic_auth" {
			t.Errorf("listener hook: filters %v", h.HttpFilters)
		}
		n++
		return nil
	}); err != nil || n != 1 {
		t.Fatal(err, n)
	}
	var custom, plain *clusterv3.Cluster
	for _, c := range res.Clusters {
		switch c.Name {
		case "httproute/default/r/rule/0":
			custom = c
		case "httproute/default/r/rule/1":
			plain = c
		}
	}
	if custom.GetConnectTimeout().AsDuration() != 7*time.Second || plain.GetConnectTimeout().AsDuration() == 7*time.Second {
		t.Errorf("cluster hook: only the custom-backend cluster changes")
	}
	if gotBackends.Load() != 1 {
		t.Errorf("cluster context: %v backends", gotBackends.Load())
	}
	for _, e := range res.Endpoints {
		if e.GetPolicy().GetOverprovisioningFactor().GetValue() != 150 {
			t.Errorf("endpoints hook: %s unchanged", e.ClusterName)
		}
	}
	if last := res.Clusters[len(res.Clusters)-1]; last.Name != "ext-added" {
		t.Errorf("translation hook: clusters end with %s", last.Name)
	}
	if len(res.Listeners) != 1 || len(res.Routes) != 1 {
		t.Errorf("translation hook: types not sent must stay: %d listeners, %d routes", len(res.Listeners), len(res.Routes))
	}
	if gotTranslatePols.Load() != 1 {
		t.Errorf("translation context: %v policies", gotTranslatePols.Load())
	}
	for _, h := range []xdstypes.Hook{xdstypes.HookRoute, xdstypes.HookVirtualHost, xdstypes.HookHTTPListener,
		xdstypes.HookCluster, xdstypes.HookEndpoints, xdstypes.HookTranslation} {
		if calls, errs := m.Counts("extension-0", h); calls < 1 || errs != 0 {
			t.Errorf("metrics %s: calls %v errors %v", h, calls, errs)
		}
	}
}

// TestChain checks that managers run in list order, each seeing the
// previous one's output.
func TestChain(t *testing.T) {
	mk := func(v string) *fakeServer {
		return &fakeServer{route: func(r *pb.PostRouteModifyRequest) (*pb.PostRouteModifyResponse, error) {
			addHeader(r.Route, v)
			return &pb.PostRouteModifyResponse{Route: r.Route}, nil
		}}
	}
	m := newManager(t, Options{},
		&egv1a1.ExtensionManager{Name: "first", Service: serveTCP(t, mk("a")), Hooks: hooksOf(egv1a1.XDSRoute)},
		&egv1a1.ExtensionManager{Name: "second", Service: serveUnix(t, mk("b")), Hooks: hooksOf(egv1a1.XDSRoute)},
	)
	x := fixture(1)
	res := translateFixture(t, x)
	if err := translator.ApplyHooks(context.Background(), x, res, m); err != nil {
		t.Fatal(err)
	}
	if got := headers(routesOf(res)[0]); got != "a,b" {
		t.Errorf("chain order: %q", got)
	}
	dup := &egv1a1.EnvoyGateway{}
	dup.ExtensionManagers = []*egv1a1.ExtensionManager{
		{Name: "x", Service: serveTCP(t, mk("a"))}, {Name: "x", Service: serveTCP(t, mk("a"))},
	}
	if _, err := New(dup, Options{}); err == nil {
		t.Error("duplicate manager names must be refused")
	}
}

// TestManyRoutesDeterministic modifies 300 routes concurrently; each answer
// must land on its own route whatever the scheduling.
func TestManyRoutesDeterministic(t *testing.T) {
	srv := &fakeServer{route: func(r *pb.PostRouteModifyRequest) (*pb.PostRouteModifyResponse, error) {
		addHeader(r.Route, r.Route.Name)
		return &pb.PostRouteModifyResponse{Route: r.Route}, nil
	}}
	m := newManager(t, Options{Parallelism: 7}, &egv1a1.ExtensionManager{Service: serveUnix(t, srv), Hooks: hooksOf(egv1a1.XDSRoute)})
	x := fixture(600)
	res := translateFixture(t, x)
	if err := translator.ApplyHooks(context.Background(), x, res, m); err != nil {
		t.Fatal(err)
	}
	changed := 0
	for _, r := range routesOf(res) {
		if h := headers(r); h != "" {
			if h != r.Name {
				t.Fatalf("route %s got %s's answer", r.Name, h)
			}
			changed++
		}
	}
	if changed != 300 {
		t.Errorf("%d routes changed, want 300", changed)
	}
}

func TestRetryOnUnavailable(t *testing.T) {
	var n atomic.Int64
	srv := &fakeServer{route: func(r *pb.PostRouteModifyRequest) (*pb.PostRouteModifyResponse, error) {
		if n.Add(1) <= 2 {
			return nil, status.Error(codes.Unavailable, "warming up")
		}
		addHeader(r.Route, "ok")
		return &pb.PostRouteModifyResponse{Route: r.Route}, nil
	}}
	initial := "10ms"
	svc := serveTCP(t, srv)
	svc.Retry = &egv1a1.ExtensionServiceRetry{InitialBackoff: ptrDuration(initial)}
	m := newManager(t, Options{}, &egv1a1.ExtensionManager{Service: svc, Hooks: hooksOf(egv1a1.XDSRoute)})
	x := fixture(1)
	res := translateFixture(t, x)
	if err := translator.ApplyHooks(context.Background(), x, res, m); err != nil {
		t.Fatal(err)
	}
	if headers(routesOf(res)[0]) != "ok" || n.Load() != 3 {
		t.Errorf("after %d attempts: %q", n.Load(), headers(routesOf(res)[0]))
	}
	// Not retryable: INTERNAL fails at once.
	n.Store(0)
	srv.route = func(*pb.PostRouteModifyRequest) (*pb.PostRouteModifyResponse, error) {
		n.Add(1)
		return nil, status.Error(codes.Internal, "boom")
	}
	if err := translator.ApplyHooks(context.Background(), x, translateFixture(t, x), m); err == nil || n.Load() != 1 {
		t.Errorf("INTERNAL: err %v after %d attempts", err, n.Load())
	}
}

// TestDeadline: a hung server costs one call deadline, not a stalled
// translation; failOpen decides what happens next.
func TestDeadline(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	srv := &fakeServer{listener: func(*pb.PostHTTPListenerModifyRequest) (*pb.PostHTTPListenerModifyResponse, error) {
		<-release
		return nil, nil
	}}
	svc := serveTCP(t, srv)
	for _, failOpen := range []bool{false, true} {
		m := newManager(t, Options{CallTimeout: 150 * time.Millisecond},
			&egv1a1.ExtensionManager{Service: svc, Hooks: hooksOf(egv1a1.XDSHTTPListener), FailOpen: failOpen})
		x := fixture(1)
		res := translateFixture(t, x)
		before := proto.Clone(res.Listeners[0])
		start := time.Now()
		err := translator.ApplyHooks(context.Background(), x, res, m)
		if el := time.Since(start); el > 2*time.Second {
			t.Errorf("failOpen=%v: took %v", failOpen, el)
		}
		var he *HookError
		switch {
		case !failOpen && (!errors.As(err, &he) || status.Code(he.Err) != codes.DeadlineExceeded):
			t.Errorf("failOpen=false: want a deadline HookError, got %v", err)
		case failOpen && (err != nil || !proto.Equal(before, res.Listeners[0])):
			t.Errorf("failOpen=true: err %v, listener changed %v", err, !proto.Equal(before, res.Listeners[0]))
		}
		if _, errs := m.Counts("extension-0", xdstypes.HookHTTPListener); errs != 1 {
			t.Errorf("failOpen=%v: error metric %v", failOpen, errs)
		}
	}
}

// TestBadAnswers: an oversized message and answers that are not valid xDS
// are failures; with failOpen the resource stays as translated.
func TestBadAnswers(t *testing.T) {
	cases := map[string]func(*pb.PostRouteModifyRequest) (*pb.PostRouteModifyResponse, error){
		"oversized": func(r *pb.PostRouteModifyRequest) (*pb.PostRouteModifyResponse, error) {
			addHeader(r.Route, strings.Repeat("x", 64<<10))
			return &pb.PostRouteModifyResponse{Route: r.Route}, nil
		},
		"no action": func(r *pb.PostRouteModifyRequest) (*pb.PostRouteModifyResponse, error) {
			return &pb.PostRouteModifyResponse{Route: &routev3.Route{Name: r.Route.Name}}, nil
		},
		"bad header": func(r *pb.PostRouteModifyRequest) (*pb.PostRouteModifyResponse, error) {
			r.Route.RequestHeadersToAdd = append(r.Route.RequestHeadersToAdd, &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: "bad\nkey"}})
			return &pb.PostRouteModifyResponse{Route: r.Route}, nil
		},
	}
	size := resource.MustParse("16Ki")
	for name, fn := range cases {
		for _, failOpen := range []bool{false, true} {
			svc := serveTCP(t, &fakeServer{route: fn})
			m := newManager(t, Options{}, &egv1a1.ExtensionManager{Service: svc, Hooks: hooksOf(egv1a1.XDSRoute),
				FailOpen: failOpen, MaxMessageSize: &size})
			x := fixture(1)
			res := translateFixture(t, x)
			before := proto.Clone(routesOf(res)[0])
			err := translator.ApplyHooks(context.Background(), x, res, m)
			if failOpen {
				if err != nil || !proto.Equal(before, routesOf(res)[0]) {
					t.Errorf("%s failOpen: err %v, changed %v", name, err, !proto.Equal(before, routesOf(res)[0]))
				}
			} else if err == nil {
				t.Errorf("%s: accepted", name)
			} else {
				t.Logf("%s: %v", name, err)
			}
		}
	}
}

func TestTranslateGarbage(t *testing.T) {
	srv := &fakeServer{translate: func(r *pb.PostTranslateModifyRequest) (*pb.PostTranslateModifyResponse, error) {
		return &pb.PostTranslateModifyResponse{Clusters: []*clusterv3.Cluster{{Name: "dup"}, {Name: "dup"}}}, nil
	}}
	m := newManager(t, Options{}, &egv1a1.ExtensionManager{Service: serveTCP(t, srv), Hooks: hooksOf(egv1a1.XDSTranslation)})
	x := fixture(1)
	res := translateFixture(t, x)
	n := len(res.Clusters)
	if err := translator.ApplyTranslateHook(context.Background(), x, res, m); err == nil || len(res.Clusters) != n {
		t.Errorf("duplicate names: err %v, %d clusters", err, len(res.Clusters))
	}
}

func ptrDuration(s string) *gatewayDuration { d := gatewayDuration(s); return &d }

// TestTranslateIncludeAll: translation.includeAll picks what is sent, and
// exactly those types are replaced; an empty answer changes nothing.
func TestTranslateIncludeAll(t *testing.T) {
	var sent atomic.Value
	srv := &fakeServer{translate: func(r *pb.PostTranslateModifyRequest) (*pb.PostTranslateModifyResponse, error) {
		sent.Store([4]int{len(r.Listeners), len(r.Routes), len(r.Clusters), len(r.Secrets)})
		if len(r.Listeners) == 0 {
			return &pb.PostTranslateModifyResponse{}, nil
		}
		// Drop every route configuration, keep the listeners.
		return &pb.PostTranslateModifyResponse{Listeners: r.Listeners}, nil
	}}
	yes, no := true, false
	mgr := &egv1a1.ExtensionManager{Service: serveTCP(t, srv), Hooks: hooksOf(egv1a1.XDSTranslation)}
	mgr.Hooks.XDSTranslator.Translation = &egv1a1.TranslationConfig{
		Listener: &egv1a1.IncludeAll{IncludeAll: &yes}, Route: &egv1a1.IncludeAll{IncludeAll: &yes},
		Cluster: &egv1a1.IncludeAll{IncludeAll: &no}, Secret: &egv1a1.IncludeAll{IncludeAll: &no},
	}
	m := newManager(t, Options{}, mgr)
	x := fixture(2)
	res := translateFixture(t, x)
	nc := len(res.Clusters)
	if err := translator.ApplyTranslateHook(context.Background(), x, res, m); err != nil {
		t.Fatal(err)
	}
	if got := sent.Load().([4]int); got != [4]int{1, 1, 0, 0} {
		t.Errorf("sent listeners/routes/clusters/secrets %v", got)
	}
	if len(res.Routes) != 0 || len(res.Listeners) != 1 || len(res.Clusters) != nc {
		t.Errorf("after: %d routes %d listeners %d clusters", len(res.Routes), len(res.Listeners), len(res.Clusters))
	}
	// Defaults: clusters and secrets only; an empty answer is "no change".
	m2 := newManager(t, Options{}, &egv1a1.ExtensionManager{Service: serveTCP(t, srv), Hooks: hooksOf(egv1a1.XDSTranslation)})
	res = translateFixture(t, x)
	if err := translator.ApplyTranslateHook(context.Background(), x, res, m2); err != nil {
		t.Fatal(err)
	}
	if got := sent.Load().([4]int); got != [4]int{0, 0, nc, 0} || len(res.Clusters) != nc || len(res.Routes) != 1 {
		t.Errorf("defaults: sent %v, %d clusters %d routes", got, len(res.Clusters), len(res.Routes))
	}
}

// TestUnimplementedWithoutConfig: with --extension-server and no
// configuration every hook is on, and a server that does not implement one
// (UNIMPLEMENTED) means "no change"; with a configuration it is an error.
func TestUnimplementedWithoutConfig(t *testing.T) {
	svc := serveUnix(t, pb.UnimplementedEnvoyGatewayExtensionServer{})
	m, err := New(nil, Options{Address: "unix://" + svc.Unix.Path, CallTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	x := fixture(2)
	res := translateFixture(t, x)
	if err := translator.ApplyHooks(context.Background(), x, res, m); err != nil {
		t.Errorf("lenient: %v", err)
	}
	if err := translator.ApplyTranslateHook(context.Background(), x, res, m); err != nil {
		t.Errorf("lenient translate: %v", err)
	}
	strict := newManager(t, Options{}, &egv1a1.ExtensionManager{Service: svc, Hooks: hooksOf(egv1a1.XDSVirtualHost)})
	if err := translator.ApplyHooks(context.Background(), x, translateFixture(t, x), strict); status.Code(errors.Unwrap(err)) != codes.Unimplemented {
		t.Errorf("configured hook not implemented: %v", err)
	}
}

// TestHungServerManyCalls: 100 route calls to a hung server cost about one
// call deadline, not 100/parallelism of them, with or without failOpen.
func TestHungServerManyCalls(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	svc := serveTCP(t, &fakeServer{route: func(*pb.PostRouteModifyRequest) (*pb.PostRouteModifyResponse, error) {
		<-release
		return nil, nil
	}})
	for _, failOpen := range []bool{false, true} {
		m := newManager(t, Options{CallTimeout: 200 * time.Millisecond, Parallelism: 4},
			&egv1a1.ExtensionManager{Service: svc, Hooks: hooksOf(egv1a1.XDSRoute), FailOpen: failOpen})
		x := fixture(200)
		res := translateFixture(t, x)
		start := time.Now()
		err := translator.ApplyHooks(context.Background(), x, res, m)
		if el := time.Since(start); el > 1500*time.Millisecond {
			t.Errorf("failOpen=%v: %v for a hung server", failOpen, el)
		}
		var he *HookError
		if failOpen != (err == nil) || (!failOpen && (!errors.As(err, &he) || status.Code(he.Err) != codes.DeadlineExceeded)) {
			t.Errorf("failOpen=%v: %v", failOpen, err)
		}
		if calls, errs := m.Counts("extension-0", xdstypes.HookRoute); calls != 100 || errs != 100 {
			t.Errorf("failOpen=%v: metrics %v calls %v errors", failOpen, calls, errs)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	// The deadline is an option; the environment is cmd/portico's.
	t.Setenv("PORTICO_EXTENSION_CALL_TIMEOUT", "nonsense")
	m, err := New(nil, Options{Address: "127.0.0.1:1"})
	if err != nil || m.opts.CallTimeout != DefaultCallTimeout {
		t.Errorf("default timeout: %v %v", err, m.opts.CallTimeout)
	}
	m, err = New(nil, Options{Address: "127.0.0.1:1", CallTimeout: 250 * time.Millisecond})
	if err != nil || m.opts.CallTimeout != 250*time.Millisecond {
		t.Errorf("option timeout: %v %v", err, m.opts.CallTimeout)
	}
	both := &egv1a1.EnvoyGateway{}
	both.ExtensionManager = &egv1a1.ExtensionManager{Service: &egv1a1.ExtensionService{Host: "x"}}
	both.ExtensionManagers = []*egv1a1.ExtensionManager{both.ExtensionManager}
	if _, err := New(both, Options{}); err == nil {
		t.Error("extensionManager with extensionManagers accepted")
	}
	if _, err := New(&egv1a1.EnvoyGateway{EnvoyGatewaySpec: egv1a1.EnvoyGatewaySpec{ExtensionManager: &egv1a1.ExtensionManager{}}}, Options{}); err == nil {
		t.Error("manager without service accepted")
	}
}

// TestFQDNService reaches the server by name (service.fqdn), as in the
// guide's Kubernetes setup.
func TestFQDNService(t *testing.T) {
	svc := serveTCP(t, &fakeServer{route: func(r *pb.PostRouteModifyRequest) (*pb.PostRouteModifyResponse, error) {
		addHeader(r.Route, "fqdn")
		return &pb.PostRouteModifyResponse{Route: r.Route}, nil
	}})
	fqdn := &egv1a1.ExtensionService{FQDN: &egv1a1.FQDNEndpoint{Hostname: "localhost", Port: svc.IP.Port}}
	m := newManager(t, Options{}, &egv1a1.ExtensionManager{Service: fqdn, Hooks: hooksOf(egv1a1.XDSRoute)})
	x := fixture(1)
	res := translateFixture(t, x)
	if err := translator.ApplyHooks(context.Background(), x, res, m); err != nil {
		t.Fatal(err)
	}
	if headers(routesOf(res)[0]) != "fqdn" {
		t.Error("route unchanged")
	}
}

// TestGarbageInsideAny: an answer whose typed_config holds bytes that are
// not the message its type URL names is refused before any proxy sees it.
func TestGarbageInsideAny(t *testing.T) {
	srv := &fakeServer{listener: func(r *pb.PostHTTPListenerModifyRequest) (*pb.PostHTTPListenerModifyResponse, error) {
		l := r.Listener
		_, err := sdk.EditHCM(l, func(h *hcmv3.HttpConnectionManager) error {
			h.HttpFilters[0].ConfigType = &hcmv3.HttpFilter_TypedConfig{TypedConfig: &anypb.Any{
				TypeUrl: "type.googleapis.com/envoy.extensions.filters.http.basic_auth.v3.BasicAuth", Value: []byte{0xff, 0xff, 0xff}}}
			return nil
		})
		return &pb.PostHTTPListenerModifyResponse{Listener: l}, err
	}}
	m := newManager(t, Options{}, &egv1a1.ExtensionManager{Service: serveTCP(t, srv), Hooks: hooksOf(egv1a1.XDSHTTPListener)})
	x := fixture(1)
	err := translator.ApplyHooks(context.Background(), x, translateFixture(t, x), m)
	if err == nil || !strings.Contains(err.Error(), "basic_auth") {
		t.Errorf("garbage typed_config accepted: %v", err)
	}
	t.Log(err)
}
