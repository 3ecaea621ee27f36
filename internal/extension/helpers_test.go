package extension

import (
	"context"
	"net"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/grpc"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
	"github.com/portico-gw/portico/internal/ir"
	"github.com/portico-gw/portico/internal/xds/translator"
	"github.com/portico-gw/portico/internal/xds/xdstypes"
	sdk "github.com/portico-gw/portico/pkg/extension"
	pb "github.com/portico-gw/portico/proto/extension"
)

// fakeServer answers each hook with its function, or "no change".
type fakeServer struct {
	sdk.Base
	route     func(*pb.PostRouteModifyRequest) (*pb.PostRouteModifyResponse, error)
	vhost     func(*pb.PostVirtualHostModifyRequest) (*pb.PostVirtualHostModifyResponse, error)
	listener  func(*pb.PostHTTPListenerModifyRequest) (*pb.PostHTTPListenerModifyResponse, error)
	cluster   func(*pb.PostClusterModifyRequest) (*pb.PostClusterModifyResponse, error)
	endpoints func(*pb.PostEndpointsModifyRequest) (*pb.PostEndpointsModifyResponse, error)
	translate func(*pb.PostTranslateModifyRequest) (*pb.PostTranslateModifyResponse, error)
	calls     atomic.Int64
}

func (f *fakeServer) PostRouteModify(ctx context.Context, r *pb.PostRouteModifyRequest) (*pb.PostRouteModifyResponse, error) {
	f.calls.Add(1)
	if f.route == nil {
		return f.Base.PostRouteModify(ctx, r)
	}
	return f.route(r)
}

func (f *fakeServer) PostVirtualHostModify(ctx context.Context, r *pb.PostVirtualHostModifyRequest) (*pb.PostVirtualHostModifyResponse, error) {
	f.calls.Add(1)
	if f.vhost == nil {
		return f.Base.PostVirtualHostModify(ctx, r)
	}
	return f.vhost(r)
}

func (f *fakeServer) PostHTTPListenerModify(ctx context.Context, r *pb.PostHTTPListenerModifyRequest) (*pb.PostHTTPListenerModifyResponse, error) {
	f.calls.Add(1)
	if f.listener == nil {
		return f.Base.PostHTTPListenerModify(ctx, r)
	}
	return f.listener(r)
}

func (f *fakeServer) PostClusterModify(ctx context.Context, r *pb.PostClusterModifyRequest) (*pb.PostClusterModifyResponse, error) {
	f.calls.Add(1)
	if f.cluster == nil {
		return f.Base.PostClusterModify(ctx, r)
	}
	return f.cluster(r)
}

func (f *fakeServer) PostEndpointsModify(ctx context.Context, r *pb.PostEndpointsModifyRequest) (*pb.PostEndpointsModifyResponse, error) {
	f.calls.Add(1)
	if f.endpoints == nil {
		return f.Base.PostEndpointsModify(ctx, r)
	}
	return f.endpoints(r)
}

func (f *fakeServer) PostTranslateModify(ctx context.Context, r *pb.PostTranslateModifyRequest) (*pb.PostTranslateModifyResponse, error) {
	f.calls.Add(1)
	if f.translate == nil {
		return f.Base.PostTranslateModify(ctx, r)
	}
	return f.translate(r)
}

// serveTCP serves srv on 127.0.0.1 and returns the ip service.
func serveTCP(t testing.TB, srv pb.EnvoyGatewayExtensionServer, opts ...grpc.ServerOption) *egv1a1.ExtensionService {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := sdk.Serve(lis, srv, opts...)
	t.Cleanup(s.Stop)
	a := lis.Addr().(*net.TCPAddr)
	return &egv1a1.ExtensionService{IP: &egv1a1.IPEndpoint{Address: "127.0.0.1", Port: int32(a.Port)}}
}

// serveUnix serves srv on a unix socket in a temp dir.
func serveUnix(t testing.TB, srv pb.EnvoyGatewayExtensionServer) *egv1a1.ExtensionService {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ext.sock")
	lis, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	s := sdk.Serve(lis, srv)
	t.Cleanup(s.Stop)
	return &egv1a1.ExtensionService{Unix: &egv1a1.UnixSocket{Path: path}}
}

func allHooks() *egv1a1.ExtensionHooks {
	return &egv1a1.ExtensionHooks{XDSTranslator: &egv1a1.XDSTranslatorHooks{Post: []egv1a1.XDSTranslatorHook{
		egv1a1.XDSRoute, egv1a1.XDSVirtualHost, egv1a1.XDSHTTPListener, egv1a1.XDSCluster,
		egv1a1.XDSEndpoints, egv1a1.XDSTranslation,
	}}}
}

func hooksOf(hs ...egv1a1.XDSTranslatorHook) *egv1a1.ExtensionHooks {
	return &egv1a1.ExtensionHooks{XDSTranslator: &egv1a1.XDSTranslatorHooks{Post: hs}}
}

func newManager(t testing.TB, opts Options, ms ...*egv1a1.ExtensionManager) *Manager {
	t.Helper()
	cfg := &egv1a1.EnvoyGateway{}
	if len(ms) == 1 {
		cfg.ExtensionManager = ms[0]
	} else {
		cfg.ExtensionManagers = ms
	}
	if opts.CallTimeout == 0 {
		opts.CallTimeout = 2 * time.Second
	}
	m, err := New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m
}

func ref(kind, name string) *ir.UnstructuredRef {
	return &ir.UnstructuredRef{Object: map[string]any{
		"apiVersion": "example.extensions.io/v1alpha1", "kind": kind,
		"metadata": map[string]any{"name": name, "namespace": "default"},
		"spec":     map[string]any{"username": "user", "password": "pw"},
	}}
}

// fixture is a fleet with one HTTP listener, two routes (the first with an
// extensionRef, the second plain) and a custom-backend destination.
func fixture(routes int) *ir.Xds {
	l := &ir.HTTPListener{
		Name: "default/eg/http", Address: "0.0.0.0", Port: 10080, Hostnames: []string{"*"},
		Path:              ir.PathSettings{MergeSlashes: true, EscapedSlashesAction: "UnescapeAndRedirect"},
		ExtensionPolicies: []*ir.UnstructuredRef{ref("ListenerContextExample", "listener-policy")},
	}
	for i := 0; i < routes; i++ {
		prefix := "/r" + itoa(i)
		dest := &ir.RouteDestination{Name: "httproute/default/r/rule/" + itoa(i), Settings: []*ir.DestinationSetting{{
			Name: "httproute/default/r/rule/" + itoa(i) + "/backend/0", Protocol: "HTTP",
			Endpoints: []*ir.DestinationEndpoint{{Host: "127.0.0.1", Port: 8080}},
		}}}
		r := &ir.HTTPRoute{
			Name: "httproute/default/r/rule/" + itoa(i) + "/match/0/*", Hostname: "*",
			PathMatch: &ir.StringMatch{Prefix: &prefix}, Destination: dest,
		}
		if i%2 == 0 {
			r.ExtensionRefs = []*ir.UnstructuredRef{ref("RouteContextExample", "ref-"+itoa(i))}
			dest.ExtensionBackends = []*ir.UnstructuredRef{ref("Backend", "b-"+itoa(i))}
		}
		l.Routes = append(l.Routes, r)
	}
	return &ir.Xds{HTTP: []*ir.HTTPListener{l}}
}

func itoa(i int) string {
	const d = "0123456789"
	if i < 10 {
		return d[i : i+1]
	}
	return itoa(i/10) + d[i%10:i%10+1]
}

func translateFixture(t testing.TB, x *ir.Xds) *xdstypes.Resources {
	t.Helper()
	res, err := translator.Translate(x)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func routesOf(res *xdstypes.Resources) []*routev3.Route {
	var out []*routev3.Route
	for _, rc := range res.Routes {
		for _, vh := range rc.VirtualHosts {
			out = append(out, vh.Routes...)
		}
	}
	return out
}
