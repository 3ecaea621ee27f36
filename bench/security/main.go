// Command security measures what SecurityPolicy costs on the built-in
// proxy: requests/s and p99 latency through a route with jwt_authn alone
// (JWKS cached), one with jwt_authn then ext_authz to the OPA example
// authorizer on a unix socket (the OPA guide's setup), and the same route
// without either, in alternating rounds so that a busy neighbour hurts all
// alike; the ratios to the plain route are the figures to read. Then it
// rotates the issuer's keys and sends a burst of concurrent requests with
// tokens of the new key, and counts the JWKS fetches the burst caused
// (goal: one).
//
//	go run ./bench/security [-d 5s] [-c 16] [-rounds 3] [-burst 200]
//
// Everything runs on 127.0.0.1: the proxy is a child process (as with
// portico run); the load generator, backend, JWKS server and authorizer
// run in this process and share the machine's cores with it.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
	"github.com/portico-gw/portico/examples/opa-ext-authz/authz"
	"github.com/portico-gw/portico/internal/cli"
	"github.com/portico-gw/portico/internal/freeport"
	"github.com/portico-gw/portico/internal/infra/host"
	"github.com/portico-gw/portico/internal/proxy/filters/jwtauthn/jwttest"
	"github.com/portico-gw/portico/internal/runner"
)

func main() {
	cli.RunChildProxy() // this binary is also the proxies the runner starts
	dur := flag.Duration("d", 5*time.Second, "duration of one measurement")
	conns := flag.Int("c", 16, "concurrent connections")
	rounds := flag.Int("rounds", 3, "rounds of the three configurations")
	burst := flag.Int("burst", 200, "concurrent requests after the key rotation")
	flag.Parse()

	dir, err := os.MkdirTemp("", "portico-bench-security-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	key := jwttest.NewKey("k1", "RS256")
	jwks := &jwksServer{doc: jwttest.JWKS(key)}
	jwksAddr := serve(jwks)
	sock := filepath.Join(dir, "opa.sock")
	stopAuthz := startAuthorizer(sock)
	defer stopAuthz()
	backendAddr := serve(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) }))
	gw := freePort()
	cfgDir := filepath.Join(dir, "config")
	must(os.MkdirAll(cfgDir, 0o755))
	must(os.WriteFile(filepath.Join(cfgDir, "all.yaml"), []byte(config(gw, backendAddr, "http://"+jwksAddr+"/jwks.json", sock)), 0o644))
	cfg := &egv1a1.EnvoyGateway{}
	cfg.ExtensionAPIs = &egv1a1.ExtensionAPISettings{EnableBackend: true}
	r, err := runner.New(runner.Options{Config: cfg, Paths: []string{cfgDir}, XDSAddress: "127.0.0.1:0", AdminAddress: "127.0.0.1:0",
		WasmAddress: "127.0.0.1:0", WasmCacheDir: filepath.Join(dir, "wasm"),
		DataPlane: host.Builtin, ListenerAddress: "127.0.0.1", ProxyAccessLog: io.Discard,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	must(err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	must(r.Start(ctx))

	token := key.Sign(map[string]any{"iss": "https://example.com", "sub": "bench"})
	url := fmt.Sprintf("http://127.0.0.1:%d/", gw)
	waitFor(url, "plain.example.com", "", 200)
	waitFor(url, "jwt.example.com", token, 200)
	waitFor(url, "www.example.com", token, 200)

	cases := []struct{ name, host, token string }{
		{"plain route", "plain.example.com", ""},
		{"plain route, same Authorization header", "plain.example.com", token},
		{"jwt_authn", "jwt.example.com", token},
		{"jwt_authn + ext_authz (unix socket, OPA)", "www.example.com", token},
	}
	for _, c := range cases { // warm-up: connections, JWKS cache, Go's heap
		load(url, c.host, c.token, *conns, *dur/4)
	}
	results := make([][]result, len(cases))
	for round := range *rounds {
		for i, c := range cases {
			res := load(url, c.host, c.token, *conns, *dur)
			results[i] = append(results[i], res)
			fmt.Printf("round %d  %-42s %8.0f req/s  p99 %6.2f ms  errors %d\n", round+1, c.name, res.rps, ms(res.p99), res.errors)
		}
	}
	fmt.Printf("\nmedians over %d rounds, %d connections, %s each:\n", *rounds, *conns, *dur)
	base := median(results[0])
	for i, c := range cases {
		m := median(results[i])
		fmt.Printf("  %-42s %8.0f req/s (%5.1f%% of plain)  p99 %6.2f ms (x%.2f)\n", c.name, m.rps, 100*m.rps/base.rps, ms(m.p99), float64(m.p99)/float64(base.p99))
	}

	// Key rotation: the issuer signs with a new key and publishes it; a
	// burst of requests with new tokens arrives at once.
	rotated := jwttest.NewKey("k2", "RS256")
	jwks.set(jwttest.JWKS(key, rotated))
	time.Sleep(1100 * time.Millisecond) // past the refetch interval of the last fetch
	before := jwks.hits.Load()
	newToken := rotated.Sign(map[string]any{"iss": "https://example.com"})
	codes := burstRequests(url, "jwt.example.com", newToken, *burst)
	fmt.Printf("\nkey rotation: %d concurrent requests with a new kid -> %d JWKS fetch(es); answers %v\n",
		*burst, jwks.hits.Load()-before, codes)
}

type jwksServer struct {
	mu   sync.Mutex
	doc  []byte
	hits atomic.Int64
}

func (j *jwksServer) set(doc []byte) { j.mu.Lock(); j.doc = doc; j.mu.Unlock() }

func (j *jwksServer) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	j.hits.Add(1)
	j.mu.Lock()
	defer j.mu.Unlock()
	_, _ = w.Write(j.doc)
}

func startAuthorizer(sock string) func() {
	srv, err := authz.New(context.Background(), authz.Config{Query: "data.envoy.authz.allow",
		Modules: map[string]string{"policy.rego": mustRead("examples/opa-ext-authz/policy.rego")},
		Env:     map[string]string{"ALLOWED_ISS": "https://example.com"}})
	must(err)
	l, err := authz.Listen("unix://" + sock)
	must(err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = srv.Serve(ctx, l); close(done) }()
	return func() { cancel(); <-done }
}

// config: three routes to one backend; jwt.example.com with a JWT policy,
// www.example.com with the OPA guide's policy (jwt_authn, then ext_authz).
func config(gw int, backendAddr, jwksURL, sock string) string {
	_, port, _ := net.SplitHostPort(backendAddr)
	route := func(name, host string) string {
		return fmt.Sprintf(`---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: %s, namespace: default, labels: {route: %s}}
spec:
  parentRefs: [{name: eg}]
  hostnames: [%s]
  rules: [{backendRefs: [{name: backend, port: %s}]}]
`, name, name, host, port)
	}
	return fmt.Sprintf(`apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: eg}
spec:
  controllerName: gateway.envoyproxy.io/gatewayclass-controller
  parametersRef: {group: gateway.envoyproxy.io, kind: EnvoyProxy, name: eg, namespace: default}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: EnvoyProxy
metadata: {name: eg, namespace: default}
spec:
  filterOrder: [{name: envoy.filters.http.ext_authz, after: envoy.filters.http.jwt_authn}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: eg, namespace: default}
spec:
  gatewayClassName: eg
  listeners: [{name: http, protocol: HTTP, port: %d}]
---
apiVersion: v1
kind: Service
metadata: {name: backend, namespace: default}
spec:
  clusterIP: 127.0.0.1
  ports: [{name: http, port: %s}]
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: opa, namespace: default}
spec:
  endpoints: [{unix: {path: %s}}]
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: SecurityPolicy
metadata: {name: jwt, namespace: default}
spec:
  targetSelectors: [{kind: HTTPRoute, matchLabels: {route: jwt}}]
  jwt:
    providers: [{name: p, remoteJWKS: {uri: "%s"}, claimToHeaders: [{header: x-jwt-iss, claim: iss}]}]
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: SecurityPolicy
metadata: {name: opa, namespace: default}
spec:
  targetSelectors: [{kind: HTTPRoute, matchLabels: {route: opa}}]
  jwt:
    providers: [{name: p, remoteJWKS: {uri: "%s"}, claimToHeaders: [{header: x-jwt-iss, claim: iss}]}]
  extAuth:
    grpc: {backendRefs: [{group: gateway.envoyproxy.io, kind: Backend, name: opa}]}
    headersToExtAuth: [x-jwt-iss]
%s%s%s`, gw, port, sock, jwksURL, jwksURL, route("plain", "plain.example.com"), route("jwt", "jwt.example.com"), route("opa", "www.example.com"))
}

type result struct {
	rps    float64
	p99    time.Duration
	errors int64
}

// load keeps conns connections busy for d and measures each request.
func load(url, host, token string, conns int, d time.Duration) result {
	tr := &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	var errs atomic.Int64
	lat := make([][]time.Duration, conns)
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for w := range conns {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				start := time.Now()
				if code := get(client, url, host, token); code != 200 {
					errs.Add(1)
				}
				lat[w] = append(lat[w], time.Since(start))
			}
		})
	}
	wg.Wait()
	all := slices.Concat(lat...)
	slices.Sort(all)
	return result{rps: float64(len(all)) / d.Seconds(), p99: all[len(all)*99/100], errors: errs.Load()}
}

func get(c *http.Client, url, host, token string) int {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Host = host
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func burstRequests(url, host, token string, n int) map[int]int {
	start := make(chan struct{})
	codes := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
			<-start
			codes[i] = get(c, url, host, token)
		})
	}
	close(start)
	wg.Wait()
	out := map[int]int{}
	for _, c := range codes {
		out[c]++
	}
	return out
}

func median(rs []result) result {
	byRPS := slices.Clone(rs)
	slices.SortFunc(byRPS, func(a, b result) int { return int(a.rps - b.rps) })
	byP99 := slices.Clone(rs)
	slices.SortFunc(byP99, func(a, b result) int { return int(a.p99 - b.p99) })
	return result{rps: byRPS[len(rs)/2].rps, p99: byP99[len(rs)/2].p99}
}

func waitFor(url, host, token string, want int) {
	c := &http.Client{Timeout: time.Second}
	for range 300 {
		if get(c, url, host, token) == want {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	log.Fatalf("%s never answered %d", host, want)
}

func serve(h http.Handler) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(err)
	go func() { _ = http.Serve(l, h) }()
	return l.Addr().String()
}

func freePort() int {
	p, err := freeport.Get()
	must(err)
	return p
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func mustRead(p string) string {
	b, err := os.ReadFile(p)
	must(err)
	return string(b)
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
