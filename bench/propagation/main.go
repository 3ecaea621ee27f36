// Command propagation measures how long a route change takes to reach the
// data plane in standalone mode: the runner and the built-in proxy run in
// this process on a folder of YAML files (one HTTPRoute per file), and for
// each change (a new route file, or an edit that moves a route to another
// backend) it times the file write up to the first request through the
// proxy that the changed route answers correctly.
//
//	go run ./bench/propagation [-routes 1000] [-changes 100] [-debounce 0]
//
// Everything listens on 127.0.0.1 with free ports. The file provider waits
// for the files to be quiet for its debounce period before reloading, so
// every figure includes it; -debounce sets it (0: the provider's default).
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
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/portico-gw/portico/internal/cli"
	"github.com/portico-gw/portico/internal/freeport"
	"github.com/portico-gw/portico/internal/infra/host"
	"github.com/portico-gw/portico/internal/provider/file"
	"github.com/portico-gw/portico/internal/runner"
)

const backends = 4

func main() {
	cli.RunChildProxy() // this binary is also the proxies the runner starts
	routes := flag.Int("routes", 1000, "routes loaded before the changes (one file each)")
	changes := flag.Int("changes", 100, "changes to time (alternately a new route file and an edit of an existing one)")
	debounce := flag.Duration("debounce", 0, "file provider debounce (0: its default, "+file.DefaultDebounce.String()+")")
	poll := flag.Duration("poll", time.Millisecond, "interval between probe requests while waiting for a change")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the changes phase to this file")
	memprofile := flag.String("memprofile", "", "write an allocation profile of the changes phase to this file")
	flag.Parse()
	if *routes < 1 || *changes < 1 {
		log.Fatal("-routes and -changes must be at least 1")
	}
	effective := *debounce
	if effective <= 0 {
		effective = file.DefaultDebounce
	}

	var ports [backends]int
	for b := range ports {
		ports[b] = startBackend(fmt.Sprintf("be-%d", b))
	}
	gw := freePort()
	dir, err := os.MkdirTemp("", "portico-propagation-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	write(filepath.Join(dir, "gateway.yaml"), gatewayYAML(gw, ports[:]))
	for i := 0; i < *routes; i++ {
		write(routeFile(dir, i), routeYAML(i, i%backends, ports[:]))
	}

	r, err := runner.New(runner.Options{Paths: []string{dir}, XDSAddress: "127.0.0.1:0", AdminAddress: "127.0.0.1:0", WasmAddress: "127.0.0.1:0",
		DataPlane: host.Builtin, ListenerAddress: "127.0.0.1", Debounce: *debounce, ProxyAccessLog: io.Discard,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))})
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	loadStart := time.Now()
	if err := r.Start(ctx); err != nil {
		log.Fatal(err)
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	// The initial load is done when the last route serves.
	if _, ok := waitFor(client, gw, *routes-1, fmt.Sprintf("be-%d", (*routes-1)%backends), 2*time.Minute, *poll); !ok {
		log.Fatalf("route %d never served", *routes-1)
	}
	fmt.Printf("loaded %d routes (one file each) in %v; GOMAXPROCS %d; file provider debounce %v\n",
		*routes, time.Since(loadStart).Round(time.Millisecond), runtime.GOMAXPROCS(0), effective)

	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	if *memprofile != "" {
		// Count only what the changes allocate: the profile is cumulative.
		runtime.MemProfileRate = 64 << 10
		defer writeHeapProfile(*memprofile)
	}
	var adds, edits []time.Duration
	next := *routes
	for c := 0; c < *changes; c++ {
		var i, b int
		if c%2 == 0 {
			// Add a new route file.
			i, b = next, next%backends
			next++
		} else {
			// Move an existing route to the next backend.
			i = (c * 7919) % *routes
			b = (i%backends + 1 + c/2) % backends
			if b == i%backends {
				b = (b + 1) % backends
			}
		}
		start := time.Now()
		write(routeFile(dir, i), routeYAML(i, b, ports[:]))
		_, ok := waitFor(client, gw, i, fmt.Sprintf("be-%d", b), 30*time.Second, *poll)
		d := time.Since(start) // from before the write
		if !ok {
			log.Fatalf("change %d (route %d to be-%d) did not propagate in 30s", c, i, b)
		}
		if c%2 == 0 {
			adds = append(adds, d)
		} else {
			edits = append(edits, d)
		}
		// Keep changes apart so that each is its own reload, as the
		// debounce would merge changes made closer together.
		time.Sleep(effective / 2)
	}
	cancel()
	<-r.Done()
	pprof.StopCPUProfile()

	all := append(append([]time.Duration(nil), adds...), edits...)
	fmt.Printf("%-7s %5s %9s %9s %9s %9s\n", "change", "n", "p50_ms", "p90_ms", "p99_ms", "max_ms")
	row("add", adds)
	row("edit", edits)
	row("all", all)
	p50 := pct(all, 50)
	fmt.Printf("debounce %v is %.0f%% of the p50; the rest (load + translate + xDS + proxy swap) is about %v\n",
		effective, 100*float64(effective)/float64(p50), (p50 - effective).Round(time.Millisecond))
}

// waitFor probes route i until backend want answers it, returning the time
// from its start.
func waitFor(c *http.Client, gw, i int, want string, limit, poll time.Duration) (time.Duration, bool) {
	start := time.Now()
	for time.Since(start) < limit {
		if probe(c, gw, i) == want {
			return time.Since(start), true
		}
		time.Sleep(poll)
	}
	return 0, false
}

// probe returns the backend that answered route i ("" for anything else).
func probe(c *http.Client, gw, i int) string {
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/", gw), nil)
	req.Host = fmt.Sprintf("route-%d.example.com", i)
	resp, err := c.Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return ""
	}
	return resp.Header.Get("X-Backend")
}

func row(name string, ds []time.Duration) {
	if len(ds) == 0 {
		return
	}
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d.Microseconds())/1000) }
	fmt.Printf("%-7s %5d %9s %9s %9s %9s\n", name, len(ds), ms(pct(ds, 50)), ms(pct(ds, 90)), ms(pct(ds, 99)), ms(slices.Max(ds)))
}

// pct is the nearest-rank percentile.
func pct(ds []time.Duration, p int) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	k := (p*len(s) + 99) / 100
	return s[max(k-1, 0)]
}

func startBackend(name string) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Backend", name)
		_, _ = io.WriteString(w, name)
	}))
	return ln.Addr().(*net.TCPAddr).Port
}

func freePort() int {
	p, err := freeport.Get()
	if err != nil {
		log.Fatal(err)
	}
	return p
}

func routeFile(dir string, i int) string {
	return filepath.Join(dir, fmt.Sprintf("route-%05d.yaml", i))
}

// write replaces a file atomically, as editors and config tools do, so the
// provider never reads half a file.
func write(path, data string) {
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, []byte(data), 0o644); err != nil {
		log.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		log.Fatal(err)
	}
}

func gatewayYAML(port int, ports []int) string {
	var b strings.Builder
	fmt.Fprintf(&b, `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata:
  name: eg
spec:
  controllerName: gateway.envoyproxy.io/gatewayclass-controller
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: eg
  namespace: default
spec:
  gatewayClassName: eg
  listeners:
    - name: http
      protocol: HTTP
      port: %d
`, port)
	for i, p := range ports {
		fmt.Fprintf(&b, `---
apiVersion: v1
kind: Service
metadata:
  name: be-%d
  namespace: default
spec:
  clusterIP: 127.0.0.1
  ports:
    - name: http
      port: %d
`, i, p)
	}
	return b.String()
}

func routeYAML(i, b int, ports []int) string {
	return fmt.Sprintf(`apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: route-%d
  namespace: default
spec:
  parentRefs:
    - name: eg
  hostnames:
    - "route-%d.example.com"
  rules:
    - backendRefs:
        - name: be-%d
          port: %d
      matches:
        - path:
            type: PathPrefix
            value: /
`, i, i, b, ports[b])
}

func writeHeapProfile(path string) {
	f, err := os.Create(path)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		log.Fatal(err)
	}
}
