package e2e

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// mirrorRouteYAML is routeYAML with a RequestMirror filter to mirror.
func mirrorRouteYAML(service string, port int, mirror string, mirrorPort int) string {
	return routeYAML(service, port) + fmt.Sprintf(`      filters:
        - type: RequestMirror
          requestMirror:
            backendRef:
              name: %s
              port: %d
`, mirror, mirrorPort)
}

// An HTTPRoute RequestMirror filter, translated and served by the built-in
// proxy: the mirror backend receives a copy (host with -shadow), the client
// gets the primary backend's answer.
func TestRequestMirrorFilter(t *testing.T) {
	bp := backend(t, "one")
	var mu sync.Mutex
	var hosts []string
	m := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hosts = append(hosts, r.Host+" "+r.URL.Path)
		mu.Unlock()
		w.WriteHeader(http.StatusInternalServerError) // never seen by the client
	}))
	t.Cleanup(m.Close)
	mp := m.Listener.Addr().(*net.TCPAddr).Port
	gw := freePort(t)
	e := start(t, map[string]string{"gateway.yaml": gatewayYAML(gw, 0, map[string]int{"backend": bp, "mirror": mp}),
		"route.yaml": mirrorRouteYAML("backend", bp, "mirror", mp)}, gw)
	for i := 0; i < 3; i++ {
		code, name, err := e.get(fmt.Sprintf("/m%d", i))
		if err != nil || code != http.StatusOK || name != "one" {
			t.Fatalf("GET through a mirrored route = %d %q %v", code, name, err)
		}
	}
	e.eventually("three copies at the mirror", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(hosts) >= 3
	})
	mu.Lock()
	defer mu.Unlock()
	// Copies travel concurrently, so they are compared as a set.
	seen := map[string]bool{}
	for _, h := range hosts {
		seen[h] = true
	}
	for i := 0; i < 3; i++ {
		if want := fmt.Sprintf("www.example.com-shadow /m%d", i); !seen[want] {
			t.Errorf("mirror saw %v, want a copy %q", hosts, want)
		}
	}
}
