package proxy_test

import (
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/portico-gw/portico/internal/proxy"
)

// head builds a request head of exactly size bytes with fields header
// lines (Host included).
func head(t *testing.T, size, fields int) string {
	var b strings.Builder
	b.WriteString("GET / HTTP/1.1\r\nHost: x\r\n")
	for i := 2; i < fields; i++ {
		b.WriteString("X-F: v\r\n")
	}
	b.WriteString("X-Pad: " + strings.Repeat("p", size-b.Len()-len("X-Pad: \r\n\r\n")) + "\r\n\r\n")
	if b.Len() != size {
		t.Fatalf("built %d bytes, not %d", b.Len(), size)
	}
	return b.String()
}

// Issue 12 item 4: max_request_headers_kb (default 60) and
// max_headers_count (default 100) are enforced with 431, and follow
// config updates.
func TestRequestHeadLimits(t *testing.T) {
	h := newHarness(t)
	port := freePort(t)
	clusters := map[string][]string{"a": {backend(t, "a")}}
	h.pushAndWait(t, basic(port, simpleRoutes("a"), clusters))
	for _, c := range []struct {
		size, fields, code int
	}{{60 << 10, 100, 200}, {60<<10 + 1, 10, 431}, {4 << 10, 101, 431}, {1 << 20, 10, 431}} {
		if r := rawDo(t, port, head(t, c.size, c.fields), c.code == 431); r.code() != c.code || c.code == 431 && !r.closed {
			t.Errorf("default limits, %d bytes, %d fields: %d (closed %v), want %d", c.size, c.fields, r.code(), r.closed, c.code)
		}
	}
	h.pushAndWait(t, withHCM(port, simpleRoutes("a"), clusters, func(m *hcmv3.HttpConnectionManager) {
		m.MaxRequestHeadersKb = wrapperspb.UInt32(2)
		m.CommonHttpProtocolOptions = &corev3.HttpProtocolOptions{MaxHeadersCount: wrapperspb.UInt32(10)}
	}))
	for _, c := range []struct {
		size, fields, code int
	}{{2 << 10, 10, 200}, {2<<10 + 1, 5, 431}, {1 << 10, 11, 431}} {
		if r := rawDo(t, port, head(t, c.size, c.fields), c.code == 431); r.code() != c.code {
			t.Errorf("2 KiB and 10 fields, %d bytes, %d fields: %d, want %d", c.size, c.fields, r.code(), c.code)
		}
	}
}

// Issue 12 item 4: many connections sending huge heads that never end do
// not make the proxy hold them (300 such heads of ~1 MB took it from 73 MB
// to 907 MB). The heap is measured, not any time.
func TestUnfinishedHeadsKeepMemoryBounded(t *testing.T) {
	h := newHarness(t)
	port := freePort(t)
	h.pushAndWait(t, basic(port, simpleRoutes("a"), map[string][]string{"a": {backend(t, "a")}}))
	const conns, headBytes = 200, 1000 << 10 // under net/http's 1 MiB bound, which the proxy used to apply
	line := "X-Pad: " + strings.Repeat("p", 1000) + "\r\n"
	block := []byte("GET / HTTP/1.1\r\nHost: x\r\n" + strings.Repeat(line, headBytes/len(line)))

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	var wg sync.WaitGroup
	open := make(chan net.Conn, conns)
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", "127.0.0.1:"+itoa(port))
			if err != nil {
				return
			}
			open <- c
			c.SetWriteDeadline(time.Now().Add(20 * time.Second))
			c.Write(block) // the head never ends; the proxy may stop reading it
		}()
	}
	wg.Wait()
	time.Sleep(200 * time.Millisecond) // let the proxy read what was sent
	close(stop)
	<-sampled
	close(open)
	for c := range open {
		c.Close()
	}
	grown := int64(peak.Load()) - int64(base)
	t.Logf("heap in use grew by %d KiB at most over %d unfinished heads of %d KiB", grown>>10, conns, headBytes>>10)
	if limit := int64(64 << 20); grown > limit {
		t.Errorf("the heap grew by %d MiB for %d unfinished heads, more than %d MiB", grown>>20, conns, limit>>20)
	}
	if r := get(t, port, "x", "/"); r.code != 200 {
		t.Errorf("afterwards: %d", r.code)
	}
}

// Issue 12 item 10: the stream timers cover a partial head and a stalled
// body, and their 408 reaches the client; the route timeout starts when
// the request is complete; the connection idle timeout runs from accept;
// request_headers_timeout applies, and follows updates.
func TestStreamTimeoutsAroundTheRequest(t *testing.T) {
	h := newHarness(t)
	port := freePort(t)
	slow := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Write(b)
	}))
	rc := simpleRoutes("a")
	rc.VirtualHosts[0].Routes[0].GetRoute().Timeout = durationpb.New(300 * time.Millisecond)
	clusters := map[string][]string{"a": {slow}}
	h.pushAndWait(t, withHCM(port, rc, clusters, func(m *hcmv3.HttpConnectionManager) {
		m.StreamIdleTimeout = durationpb.New(time.Second)
		m.CommonHttpProtocolOptions = &corev3.HttpProtocolOptions{IdleTimeout: durationpb.New(300 * time.Millisecond)}
	}))

	// A partial head: 408 "stream timeout" once the stream idle timeout ran.
	if r := rawDo(t, port, "GET / HTTP/1.1\r\nHost: x\r\nX-Half: ", true); r.code() != 408 || r.body != "stream timeout" || !r.closed {
		t.Errorf("partial head: %d %q closed %v", r.code(), r.body, r.closed)
	}
	// A stalled body: the 408 gets out although the body never completes.
	if r := rawDo(t, port, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly ten b", true); r.code() != 408 || !r.closed {
		t.Errorf("stalled body: %d %q closed %v", r.code(), r.body, r.closed)
	}
	// A slow upload is no upstream timeout: the route's 300 ms start when
	// the body is complete.
	c, err := net.Dial("tcp", "127.0.0.1:"+itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nfirst")
	time.Sleep(600 * time.Millisecond)
	io.WriteString(c, "-last")
	if r := readReply(t, c); r.code() != 200 || r.body != "first-last" {
		t.Errorf("slow upload: %d %q", r.code(), r.body)
	}
	c.Close()
	// A connection that never sends a byte is closed by the idle timeout.
	c, err = net.Dial("tcp", "127.0.0.1:"+itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil || strings.Contains(err.Error(), "timeout") {
		t.Errorf("silent connection: read %d, %v; want it closed by the proxy", n, err)
	}
	c.Close()

	// request_headers_timeout, pushed later, answers 408 without a body.
	h.pushAndWait(t, withHCM(port, rc, clusters, func(m *hcmv3.HttpConnectionManager) {
		m.StreamIdleTimeout = durationpb.New(time.Hour)
		m.RequestHeadersTimeout = durationpb.New(200 * time.Millisecond)
	}))
	if r := rawDo(t, port, "GET / HTTP/1.1\r\nHost: x\r\n", true); r.code() != 408 || r.body != "" || !r.closed {
		t.Errorf("request_headers_timeout: %d %q closed %v", r.code(), r.body, r.closed)
	}
}

// Issue 12 item 11: a global downstream connection limit. Idle connections
// are closed to make room; with none idle a new connection is refused;
// a listener with ignore_global_conn_limit (health checks) still serves.
func TestDownstreamConnectionLimit(t *testing.T) {
	const max = 8
	h := newHarnessOpts(t, func(o *proxy.Options) { o.MaxDownstreamConnections = max })
	port, health := freePort(t), freePort(t)
	res := basic(port, simpleRoutes("a"), map[string][]string{"a": {backend(t, "a")}})
	hl := listener("health", health, "rc", nil)
	hl.IgnoreGlobalConnLimit = true
	res[resourcev3.ListenerType] = append(res[resourcev3.ListenerType], types.Resource(hl))
	h.pushAndWait(t, res)
	dial := func() net.Conn {
		c, err := net.Dial("tcp", "127.0.0.1:"+itoa(port))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// A flood of idle connections does not lock clients out.
	for range 3 * max {
		dial()
	}
	if r := get(t, port, "x", "/"); r.code != 200 {
		t.Fatalf("with idle connections at the limit: %d", r.code)
	}
	// Connections in the middle of a request are not closed for room (the
	// pause lets the proxy read each one's first bytes before the next
	// one needs room: until then it is waiting for a request, idle).
	busy := make([]net.Conn, 0, max)
	for range max {
		c := dial()
		io.WriteString(c, "GET / HTTP/1.1\r\n")
		busy = append(busy, c)
		time.Sleep(50 * time.Millisecond)
	}
	c := dial()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil || strings.Contains(err.Error(), "timeout") {
		t.Errorf("over the limit with none idle: read %d, %v; want the connection closed", n, err)
	}
	if r := get(t, health, "x", "/"); r.code != 200 {
		t.Errorf("the ignore_global_conn_limit listener: %d", r.code)
	}
	for _, b := range busy {
		io.WriteString(b, "Host: x\r\nConnection: close\r\n\r\n")
	}
	for _, b := range busy {
		b.SetDeadline(time.Now().Add(5 * time.Second))
		if r := readReply(t, b); r.code() != 200 {
			t.Errorf("a busy connection: %d", r.code())
		}
	}
}
