package proxy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/portico-gw/portico/internal/freeport"
	"github.com/portico-gw/portico/internal/proxy"
)

const nodeID = "test-node"

// harness runs a go-control-plane ADS server and a proxy on loopback.
type harness struct {
	t       *testing.T
	cache   cachev3.SnapshotCache
	xds     string
	p       *proxy.Proxy
	version int
	log     *syncBuf

	srv serverv3.Server
	gs  *grpc.Server

	mu     sync.Mutex
	nacked []string // error_detail messages the server saw

	// last is the previous push: with delta xDS (the proxy's default) a
	// type whose resources did not change is not sent again, so it keeps
	// its older version.
	last map[string][]types.Resource
}

// newHarnessSotW is newHarness with the proxy speaking SotW ADS.
func newHarnessSotW(t testing.TB) *harness { return newHarnessWith(t, true) }

// startXDS serves ADS on addr (a fixed address when restarting).
func (h *harness) startXDS(t testing.TB, addr string) {
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ {
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	h.gs = grpc.NewServer()
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(h.gs, h.srv)
	go h.gs.Serve(ln)
	h.xds = ln.Addr().String()
}

type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newHarness(t testing.TB) *harness { return newHarnessWith(t, false) }

func newHarnessWith(t testing.TB, sotw bool) *harness {
	return newHarnessOpts(t, func(o *proxy.Options) { o.SotW = sotw })
}

// newHarnessOpts is newHarness with options changed by mod.
func newHarnessOpts(t testing.TB, mod func(*proxy.Options)) *harness {
	tt, _ := t.(*testing.T)
	h := &harness{t: tt, cache: cachev3.NewSnapshotCache(true, cachev3.IDHash{}, nil), log: &syncBuf{}}
	ctx, cancel := context.WithCancel(context.Background())
	cb := serverv3.CallbackFuncs{StreamRequestFunc: func(_ int64, r *discoveryv3.DiscoveryRequest) error {
		h.sawNACK(r.GetErrorDetail().GetMessage(), r.GetErrorDetail() != nil)
		return nil
	}, StreamDeltaRequestFunc: func(_ int64, r *discoveryv3.DeltaDiscoveryRequest) error {
		h.sawNACK(r.GetErrorDetail().GetMessage(), r.GetErrorDetail() != nil)
		return nil
	}}
	h.srv = serverv3.NewServer(ctx, h.cache, cb)
	h.startXDS(t, "127.0.0.1:0")
	o := proxy.Options{XDSAddress: h.xds, NodeID: nodeID, Cluster: "test", AccessLog: h.log,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), DrainTimeout: 5 * time.Second, InitialFetchTimeout: 1500 * time.Millisecond}
	mod(&o)
	p, err := proxy.New(o)
	if err != nil {
		t.Fatal(err)
	}
	h.p = p
	done := make(chan struct{})
	go func() { _ = p.Run(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
		h.gs.Stop()
	})
	return h
}

func (h *harness) sawNACK(msg string, nack bool) {
	if !nack {
		return
	}
	h.mu.Lock()
	h.nacked = append(h.nacked, msg)
	h.mu.Unlock()
}

func (h *harness) nacks() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.nacked...)
}

// push sets a snapshot and, unless expectNACK, waits until the proxy serves it.
func (h *harness) push(t testing.TB, res map[string][]types.Resource) string {
	t.Helper()
	h.version++
	v := strconv.Itoa(h.version)
	snap, err := cachev3.NewSnapshot(v, res)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.cache.SetSnapshot(context.Background(), nodeID, snap); err != nil {
		t.Fatal(err)
	}
	return v
}

func (h *harness) pushAndWait(t testing.TB, res map[string][]types.Resource) {
	t.Helper()
	last := h.last
	h.last = res
	v := h.push(t, res)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := h.p.WaitFor(ctx, func(s proxy.Status) bool {
		if !s.Ready {
			return false
		}
		for k, rs := range res {
			if len(rs) == 0 {
				continue // nothing subscribes to an empty type
			}
			if sameResources(last[k], rs) && s.Versions[map[string]string{resourcev3.ListenerType: "LDS", resourcev3.RouteType: "RDS", resourcev3.ClusterType: "CDS", resourcev3.EndpointType: "EDS"}[k]] != "" {
				continue // not sent again over delta xDS
			}
			short := map[string]string{resourcev3.ListenerType: "LDS", resourcev3.RouteType: "RDS", resourcev3.ClusterType: "CDS", resourcev3.EndpointType: "EDS"}[k]
			if short != "" && s.Versions[short] != v {
				return false
			}
		}
		return true
	})
	if err != nil {
		t.Fatalf("config version %s not applied: %+v", v, h.p.Status())
	}
	// The swap happens right after the last ACK; give it a moment.
	time.Sleep(20 * time.Millisecond)
}

// freePort returns a loopback port nobody listens on, from outside the
// kernel's ephemeral range so nothing else takes it before it is bound.
func freePort(t testing.TB) uint32 {
	t.Helper()
	p, err := freeport.Get()
	if err != nil {
		t.Fatal(err)
	}
	return uint32(p)
}

func mustAny(m proto.Message) *anypb.Any {
	a, err := anypb.New(m)
	if err != nil {
		panic(err)
	}
	return a
}

var ads = &corev3.ConfigSource{ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}}, ResourceApiVersion: corev3.ApiVersion_V3}

func routerFilter() *hcmv3.HttpFilter {
	return &hcmv3.HttpFilter{Name: "envoy.filters.http.router", ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(&routerv3.Router{})}}
}

// listener builds a plain-HTTP listener whose HCM uses RDS, the way Envoy
// Gateway does (default_filter_chain).
func listener(name string, port uint32, rds string, mod func(*hcmv3.HttpConnectionManager), filters ...*hcmv3.HttpFilter) *listenerv3.Listener {
	h := &hcmv3.HttpConnectionManager{
		StatPrefix:     "http-" + strconv.Itoa(int(port)),
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{ConfigSource: ads, RouteConfigName: rds}},
		HttpFilters:    append(filters, routerFilter()),
	}
	if mod != nil {
		mod(h)
	}
	return &listenerv3.Listener{
		Name: name,
		Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
			Address: "127.0.0.1", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port}}}},
		DefaultFilterChain: &listenerv3.FilterChain{Filters: []*listenerv3.Filter{{
			Name: "envoy.filters.network.http_connection_manager", ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(h)}}}},
	}
}

func edsCluster(name string, mod func(*clusterv3.Cluster)) *clusterv3.Cluster {
	c := &clusterv3.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
		EdsClusterConfig:     &clusterv3.Cluster_EdsClusterConfig{EdsConfig: ads, ServiceName: name},
		ConnectTimeout:       durationpb.New(time.Second),
	}
	if mod != nil {
		mod(c)
	}
	return c
}

// cla points a cluster at "host:port" or "unix:/path" endpoints.
func cla(name string, addrs ...string) *endpointv3.ClusterLoadAssignment {
	var eps []*endpointv3.LbEndpoint
	for _, a := range addrs {
		var addr *corev3.Address
		if p, ok := strings.CutPrefix(a, "unix:"); ok {
			addr = &corev3.Address{Address: &corev3.Address_Pipe{Pipe: &corev3.Pipe{Path: p}}}
		} else {
			host, port, _ := net.SplitHostPort(a)
			n, _ := strconv.Atoi(port)
			addr = &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
				Address: host, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: uint32(n)}}}}
		}
		eps = append(eps, &endpointv3.LbEndpoint{HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: addr}}})
	}
	return &endpointv3.ClusterLoadAssignment{ClusterName: name, Endpoints: []*endpointv3.LocalityLbEndpoints{{LbEndpoints: eps}}}
}

func routeTo(cluster string) *routev3.Route_Route {
	return &routev3.Route_Route{Route: &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: cluster}}}
}

func prefix(p string) *routev3.RouteMatch {
	return &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: p}}
}

// echo is what the test backends answer: who they are and what they saw.
type echo struct {
	Backend string              `json:"backend"`
	Method  string              `json:"method"`
	URI     string              `json:"uri"`
	Host    string              `json:"host"`
	Proto   string              `json:"proto"`
	Headers map[string][]string `json:"headers"`
}

func echoHandler(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Backend", name)
		_ = json.NewEncoder(w).Encode(echo{Backend: name, Method: r.Method, URI: r.RequestURI, Host: r.Host, Proto: r.Proto, Headers: r.Header})
	})
}

// backend starts an HTTP/1.1 + h2c echo server on loopback.
func backend(t testing.TB, name string) string {
	return serve(t, echoHandler(name))
}

func serve(t testing.TB, h http.Handler) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := new(http.Protocols)
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	srv := &http.Server{Handler: h, Protocols: p}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

type result struct {
	code int
	hdr  http.Header
	body string
	echo echo
}

var client = &http.Client{
	Transport:     &http.Transport{MaxIdleConnsPerHost: 64},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Timeout:       10 * time.Second,
}

// get sends a request through the proxy listening on port.
func get(t testing.TB, port uint32, host, uri string, hdr ...string) result {
	t.Helper()
	req, err := http.NewRequest("GET", fmt.Sprintf("http://127.0.0.1:%d%s", port, uri), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s %s: %v", host, uri, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := result{code: resp.StatusCode, hdr: resp.Header, body: string(b)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") && resp.Header.Get("X-Backend") != "" {
		_ = json.Unmarshal(b, &r.echo)
	}
	return r
}

func itoa(p uint32) string { return strconv.Itoa(int(p)) }

func sameResources(a, b []types.Resource) bool {
	if len(a) != len(b) {
		return false
	}
	// By name: basic() lists clusters in map order.
	byName := map[string]types.Resource{}
	for _, r := range a {
		byName[cachev3.GetResourceName(r)] = r
	}
	for _, r := range b {
		if o, ok := byName[cachev3.GetResourceName(r)]; !ok || !proto.Equal(o, r) {
			return false
		}
	}
	return true
}
