package e2e

import (
	"context"
	"crypto/sha1" //nolint:gosec // the {SHA} htpasswd format
	"encoding/base64"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	basicauthv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/basic_auth/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/anypb"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
	"github.com/portico-gw/portico/examples/extension-server/server"
	"github.com/portico-gw/portico/internal/infra/host"
	"github.com/portico-gw/portico/internal/resource"
	sdk "github.com/portico-gw/portico/pkg/extension"
	pb "github.com/portico-gw/portico/proto/extension"
)

func policyYAML(password string) string {
	return `apiVersion: example.extensions.io/v1alpha1
kind: ListenerContextExample
metadata:
  name: listenercontext-example
  namespace: default
spec:
  targetRefs:
    - group: gateway.networking.k8s.io
      kind: Gateway
      name: eg
  username: user
  password: ` + password + "\n"
}

func (e *env) withAuth(user, pass string) int {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:"+itoa(e.gwPort)+"/example", nil)
	req.Host = "www.example.com"
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestExtensionServerBasicAuth is the Extension Server guide on real
// traffic: the example server adds basic_auth to the listener through the
// HTTPListener hook; a request without credentials gets Envoy's 401, the
// policy's user gets through. When the server goes away (failOpen false),
// an edit is not applied and the last good configuration keeps serving.
func TestExtensionServerBasicAuth(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "ext.sock")
	lis, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := sdk.Serve(lis, &server.Server{})
	defer srv.Stop()
	data, err := os.ReadFile("../../examples/extension-server/envoy-gateway.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := resource.ParseConfig("envoy-gateway.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ExtensionManager.Service.Unix.Path = sock
	bp := backend(t, "one")
	gw := freePort(t)
	e := startWith(t, cfg, map[string]string{
		"gateway.yaml": gatewayYAML(gw, 0, map[string]int{"backend": bp}),
		"route.yaml":   routeYAML("backend", bp),
		"policy.yaml":  policyYAML("p@ssw0rd"),
	}, gw)
	e.eventually("basic auth on the listener", func() bool { return e.withAuth("", "") == http.StatusUnauthorized })
	resp := e.response("www.example.com", "/example")
	if got := resp.Header.Get("www-authenticate"); got != `Basic realm="http://www.example.com/example"` {
		t.Errorf("www-authenticate %q", got)
	}
	if _, body, _ := e.raw("www.example.com", "/example"); body != "User authentication failed. Missing username and password." {
		t.Errorf("body %q", body)
	}
	if c := e.withAuth("user", "p@ssw0rd"); c != http.StatusOK {
		t.Errorf("with credentials: %d", c)
	}
	if c := e.withAuth("user", "wrong"); c != http.StatusUnauthorized {
		t.Errorf("wrong password: %d", c)
	}

	// The extension server goes away; the new password cannot be applied
	// and the old one keeps working.
	srv.Stop()
	writeFile(t, filepath.Join(e.dir, "policy.yaml"), policyYAML("n3w"))
	e.eventually("the extension error reported", func() bool {
		_, st := e.admin("/status")
		return strings.Contains(string(st), "extension manager")
	})
	if _, st := e.admin("/status"); !strings.Contains(string(st), `cannot be served (extension manager`) {
		t.Errorf("the Gateway's status does not say why:\n%s", st)
	}
	if c := e.withAuth("user", "p@ssw0rd"); c != http.StatusOK {
		t.Errorf("last good config: %d", c)
	}
	if c := e.withAuth("user", "n3w"); c != http.StatusUnauthorized {
		t.Errorf("unapplied password accepted: %d", c)
	}
}

// garbageServer answers the HTTPListener hook with a listener that is not
// valid xDS.
type garbageServer struct{ sdk.Base }

func (garbageServer) PostHTTPListenerModify(context.Context, *pb.PostHTTPListenerModifyRequest) (*pb.PostHTTPListenerModifyResponse, error) {
	return &pb.PostHTTPListenerModifyResponse{Listener: &listenerv3.Listener{Name: "garbage", FilterChains: []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{{}}}}}}, nil
}

func extensionConfig(t *testing.T, sock string, failOpen bool) *egv1a1.EnvoyGateway {
	t.Helper()
	data, err := os.ReadFile("../../examples/extension-server/envoy-gateway.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := resource.ParseConfig("envoy-gateway.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ExtensionManager.Service.Unix.Path = sock
	cfg.ExtensionManager.FailOpen = failOpen
	return cfg
}

// TestExtensionFailOpenGarbage: with failOpen, an answer that is not valid
// xDS is logged and counted, and the listener is served as translated.
func TestExtensionFailOpenGarbage(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "ext.sock")
	lis, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := sdk.Serve(lis, garbageServer{})
	defer srv.Stop()
	bp := backend(t, "one")
	gw := freePort(t)
	e := startWith(t, extensionConfig(t, sock, true), map[string]string{
		"gateway.yaml": gatewayYAML(gw, 0, map[string]int{"backend": bp}),
		"route.yaml":   routeYAML("backend", bp),
		"policy.yaml":  policyYAML("p@ssw0rd"),
	}, gw)
	e.eventually("traffic served without the extension's change", func() bool { return e.withAuth("", "") == http.StatusOK })
	_, m := e.admin("/metrics")
	if !strings.Contains(string(m), `portico_extension_hook_errors_total{hook="HTTPListener",manager="extension-0"} `) {
		t.Errorf("no error metric:\n%s", m)
	}
}

// TestExtensionRecovers: failOpen false, the server goes away (the last
// good configuration keeps serving) and comes back: the next change is
// applied, nothing is lost.
func TestExtensionRecovers(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "ext.sock")
	serve := func() *grpc.Server {
		lis, err := net.Listen("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		return sdk.Serve(lis, &server.Server{})
	}
	srv := serve()
	bp := backend(t, "one")
	gw := freePort(t)
	e := startWith(t, extensionConfig(t, sock, false), map[string]string{
		"gateway.yaml": gatewayYAML(gw, 0, map[string]int{"backend": bp}),
		"route.yaml":   routeYAML("backend", bp),
		"policy.yaml":  policyYAML("one"),
	}, gw)
	e.eventually("first password", func() bool { return e.withAuth("user", "one") == http.StatusOK })
	srv.Stop()
	writeFile(t, filepath.Join(e.dir, "policy.yaml"), policyYAML("two"))
	e.eventually("the extension error reported", func() bool {
		_, st := e.admin("/status")
		return strings.Contains(string(st), "extension manager")
	})
	if c := e.withAuth("user", "one"); c != http.StatusOK {
		t.Fatalf("last good config: %d", c)
	}
	srv = serve()
	defer srv.Stop()
	writeFile(t, filepath.Join(e.dir, "policy.yaml"), policyYAML("three"))
	e.eventually("the change after recovery", func() bool { return e.withAuth("user", "three") == http.StatusOK })
	if c := e.withAuth("user", "one"); c != http.StatusUnauthorized {
		t.Errorf("old password still accepted: %d", c)
	}
}

// TestExtensionServerStartedSecond is the README's two commands in the
// other order: Portico first, the extension server a moment later. The
// fleet is retried on its own (no file is touched), /readyz says what it
// waits for meanwhile, and the guide's basic auth is then served.
func TestExtensionServerStartedSecond(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "ext.sock")
	bp := backend(t, "one")
	gw := freePort(t)
	e := startNoWait(t, host.Builtin, extensionConfig(t, sock, false), map[string]string{
		"gateway.yaml": gatewayYAML(gw, 0, map[string]int{"backend": bp}),
		"route.yaml":   routeYAML("backend", bp),
		"policy.yaml":  policyYAML("p@ssw0rd"),
	}, gw, nil)
	e.eventually("/readyz naming the extension server", func() bool {
		code, body := e.admin("/readyz")
		return code == http.StatusServiceUnavailable && strings.Contains(string(body), "fleet default/eg: ") &&
			strings.Contains(string(body), "extension manager") && strings.Contains(string(body), "tried again in")
	})
	lis, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := sdk.Serve(lis, &server.Server{})
	defer srv.Stop()
	e.waitReady()
	e.eventually("basic auth once the server is up", func() bool { return e.withAuth("", "") == http.StatusUnauthorized })
	if c := e.withAuth("user", "p@ssw0rd"); c != http.StatusOK {
		t.Errorf("with credentials: %d", c)
	}
	if _, m := e.admin("/metrics"); !strings.Contains(string(m), "portico_extension_retries_total ") {
		t.Error("retries not counted")
	}
}

// headerHooks adds a response header from the Route and VirtualHost hooks;
// the Route hook's value names the extensionRef object it was given.
type headerHooks struct {
	sdk.Base
	tag string
}

func (h headerHooks) PostRouteModify(_ context.Context, r *pb.PostRouteModifyRequest) (*pb.PostRouteModifyResponse, error) {
	rt := r.GetRoute()
	names := []string{h.tag}
	for _, res := range r.GetPostRouteContext().GetExtensionResources() {
		o, err := sdk.Decode[sdk.Object](res)
		if err != nil {
			return nil, err
		}
		names = append(names, o.Metadata.Name)
	}
	rt.ResponseHeadersToAdd = append(rt.ResponseHeadersToAdd, &corev3.HeaderValueOption{
		Header:       &corev3.HeaderValue{Key: "x-route-hook", Value: strings.Join(names, ":")},
		AppendAction: corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD,
	})
	return &pb.PostRouteModifyResponse{Route: rt}, nil
}

func (h headerHooks) PostVirtualHostModify(_ context.Context, r *pb.PostVirtualHostModifyRequest) (*pb.PostVirtualHostModifyResponse, error) {
	vh := r.GetVirtualHost()
	vh.ResponseHeadersToAdd = append(vh.ResponseHeadersToAdd, &corev3.HeaderValueOption{
		Header: &corev3.HeaderValue{Key: "x-vhost-hook", Value: h.tag},
	})
	return &pb.PostVirtualHostModifyResponse{VirtualHost: vh}, nil
}

// TestExtensionChainOnTraffic: two managers (one on TCP, one on a unix
// socket) chained; the Route hook for a route with an extensionRef filter
// and the VirtualHost hook change what real responses carry, in chain
// order.
func TestExtensionChainOnTraffic(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "ext.sock")
	ul, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s1 := sdk.Serve(tl, headerHooks{tag: "first"})
	defer s1.Stop()
	s2 := sdk.Serve(ul, headerHooks{tag: "second"})
	defer s2.Stop()
	gvk := egv1a1.GroupVersionKind{Group: "example.extensions.io", Version: "v1alpha1", Kind: "RouteContextExample"}
	cfg := &egv1a1.EnvoyGateway{}
	cfg.ExtensionManagers = []*egv1a1.ExtensionManager{
		{Name: "first", Resources: []egv1a1.GroupVersionKind{gvk},
			Hooks:   &egv1a1.ExtensionHooks{XDSTranslator: &egv1a1.XDSTranslatorHooks{Post: []egv1a1.XDSTranslatorHook{egv1a1.XDSRoute}}},
			Service: &egv1a1.ExtensionService{IP: &egv1a1.IPEndpoint{Address: "127.0.0.1", Port: int32(tl.Addr().(*net.TCPAddr).Port)}}},
		{Name: "second",
			Hooks:   &egv1a1.ExtensionHooks{XDSTranslator: &egv1a1.XDSTranslatorHooks{Post: []egv1a1.XDSTranslatorHook{egv1a1.XDSRoute, egv1a1.XDSVirtualHost}}},
			Service: &egv1a1.ExtensionService{Unix: &egv1a1.UnixSocket{Path: sock}}},
	}
	bp := backend(t, "one")
	gw := freePort(t)
	route := strings.Replace(routeYAML("backend", bp), "    - backendRefs:", `    - filters:
        - type: ExtensionRef
          extensionRef: {group: example.extensions.io, kind: RouteContextExample, name: ctx}
      backendRefs:`, 1)
	e := startWith(t, cfg, map[string]string{
		"gateway.yaml": gatewayYAML(gw, 0, map[string]int{"backend": bp}),
		"route.yaml":   route,
		"ctx.yaml": `apiVersion: example.extensions.io/v1alpha1
kind: RouteContextExample
metadata: {name: ctx, namespace: default}
spec: {}
`,
	}, gw)
	var resp *http.Response
	e.eventually("hooked headers", func() bool {
		resp = e.response("www.example.com", "/")
		return resp.StatusCode == http.StatusOK && resp.Header.Get("x-vhost-hook") != ""
	})
	if got := resp.Header.Values("x-route-hook"); strings.Join(got, ",") != "first:ctx,second:ctx" {
		t.Errorf("x-route-hook %q", got)
	}
	if got := resp.Header.Values("x-vhost-hook"); strings.Join(got, ",") != "second" {
		t.Errorf("x-vhost-hook %q", got)
	}
}

// perRouteAuth follows Envoy Gateway's basic_auth layout through the hooks:
// the listener gets a disabled filter (listener users), and routes with an
// extensionRef enable it with their own users (BasicAuthPerRoute).
type perRouteAuth struct{ sdk.Base }

const perRouteFilter = "envoy.filters.http.basic_auth/example"

func htpasswd(user, pass string) string {
	sum := sha1.Sum([]byte(pass)) //nolint:gosec // the {SHA} htpasswd format
	return user + ":{SHA}" + base64.StdEncoding.EncodeToString(sum[:]) + "\n"
}

func (perRouteAuth) PostHTTPListenerModify(_ context.Context, r *pb.PostHTTPListenerModifyRequest) (*pb.PostHTTPListenerModifyResponse, error) {
	l := r.GetListener()
	_, err := sdk.EditHCM(l, func(h *hcmv3.HttpConnectionManager) error {
		if err := sdk.AddHTTPFilter(h, perRouteFilter, &basicauthv3.BasicAuth{
			Users: &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: htpasswd("listener", "l")}},
		}); err != nil {
			return err
		}
		for _, f := range h.HttpFilters {
			if f.Name == perRouteFilter {
				f.Disabled = true
			}
		}
		return nil
	})
	return &pb.PostHTTPListenerModifyResponse{Listener: l}, err
}

func (perRouteAuth) PostRouteModify(_ context.Context, r *pb.PostRouteModifyRequest) (*pb.PostRouteModifyResponse, error) {
	rt := r.GetRoute()
	a, err := anypb.New(&basicauthv3.BasicAuthPerRoute{
		Users: &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: []byte(htpasswd("route", "r"))}},
	})
	if err != nil {
		return nil, err
	}
	if rt.TypedPerFilterConfig == nil {
		rt.TypedPerFilterConfig = map[string]*anypb.Any{}
	}
	rt.TypedPerFilterConfig[perRouteFilter] = a
	return &pb.PostRouteModifyResponse{Route: rt}, nil
}

// TestExtensionPerRouteBasicAuth: a disabled basic_auth filter runs only on
// the routes that enable it, with the route's users.
func TestExtensionPerRouteBasicAuth(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "ext.sock")
	lis, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	s := sdk.Serve(lis, perRouteAuth{})
	defer s.Stop()
	gvk := egv1a1.GroupVersionKind{Group: "example.extensions.io", Version: "v1alpha1", Kind: "RouteContextExample"}
	cfg := &egv1a1.EnvoyGateway{}
	cfg.ExtensionManager = &egv1a1.ExtensionManager{Resources: []egv1a1.GroupVersionKind{gvk},
		Hooks:   &egv1a1.ExtensionHooks{XDSTranslator: &egv1a1.XDSTranslatorHooks{Post: []egv1a1.XDSTranslatorHook{egv1a1.XDSRoute, egv1a1.XDSHTTPListener}}},
		Service: &egv1a1.ExtensionService{Unix: &egv1a1.UnixSocket{Path: sock}}}
	bp := backend(t, "one")
	gw := freePort(t)
	route := strings.Replace(routeYAML("backend", bp), "            value: /\n", `            value: /open
    - filters:
        - type: ExtensionRef
          extensionRef: {group: example.extensions.io, kind: RouteContextExample, name: ctx}
      backendRefs:
        - name: backend
          port: `+strconv.Itoa(bp)+`
      matches:
        - path:
            type: PathPrefix
            value: /secure
`, 1)
	e := startWith(t, cfg, map[string]string{
		"gateway.yaml": gatewayYAML(gw, 0, map[string]int{"backend": bp}),
		"route.yaml":   route,
		"ctx.yaml":     "apiVersion: example.extensions.io/v1alpha1\nkind: RouteContextExample\nmetadata: {name: ctx, namespace: default}\nspec: {}\n",
	}, gw)
	get := func(path, user, pass string) int {
		req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:"+strconv.Itoa(gw)+path, nil)
		req.Host = "www.example.com"
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := e.client.Do(req)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	e.eventually("the secure route refuses", func() bool { return get("/secure", "", "") == http.StatusUnauthorized })
	for _, c := range []struct {
		path, user, pass string
		want             int
	}{
		{"/open", "", "", 200},
		{"/secure", "route", "r", 200},
		{"/secure", "listener", "l", 401},
	} {
		if got := get(c.path, c.user, c.pass); got != c.want {
			t.Errorf("%s as %q: %d, want %d", c.path, c.user, got, c.want)
		}
	}
}
