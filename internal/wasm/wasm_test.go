package wasm

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/gatewayapi"
)

const pluginSHA = "79c9f85128bb0177b6511afa85d587224efded376ac0ef76df56595f1e6315c0"

func plugin(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/plugin.wasm")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func gz(b []byte) []byte {
	var out bytes.Buffer
	w := gzip.NewWriter(&out)
	_, _ = w.Write(b)
	_ = w.Close()
	return out.Bytes()
}

func tarOf(b []byte) []byte {
	var out bytes.Buffer
	w := tar.NewWriter(&out)
	_ = w.WriteHeader(&tar.Header{Name: "plugin.wasm", Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg})
	_, _ = w.Write(b)
	_ = w.Close()
	return out.Bytes()
}

// quick is a Fetcher with test-sized backoff.
var quick = Fetcher{BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond, Timeout: 2 * time.Second}

func TestFetchFormatsAndErrors(t *testing.T) {
	mod := plugin(t)
	noABI := []byte("\x00asm\x01\x00\x00\x00")
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		switch r.URL.Path {
		case "/plain":
			_, _ = w.Write(mod)
		case "/gzip":
			_, _ = w.Write(gz(mod))
		case "/tar.gz":
			_, _ = w.Write(gz(tarOf(mod)))
		case "/html":
			_, _ = w.Write([]byte("<html><body>not here</body></html>"))
		case "/noabi":
			_, _ = w.Write(noABI)
		case "/big":
			_, _ = w.Write(bytes.Repeat([]byte{0}, 2048))
		case "/503":
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	for _, tc := range []struct {
		path, sha string
		max       int64
		calls     int32
		err       string
	}{
		{path: "/plain", sha: pluginSHA, calls: 1},
		{path: "/gzip", calls: 1},
		{path: "/tar.gz", sha: pluginSHA, calls: 1},
		{path: "/missing", calls: 1, err: "wasm module download failed after 1 attempts, last error: wasm module download request failed: status code 404"},
		{path: "/503", calls: 5, err: "wasm module download failed after 5 attempts, last error: wasm module download request failed: status code 503"},
		{path: "/html", calls: 1, err: "fetched Wasm binary from URL/html is invalid"},
		{path: "/plain", sha: strings.Repeat("0", 64), calls: 1,
			err: "module downloaded from URL/plain has checksum " + pluginSHA + ", which does not match: " + strings.Repeat("0", 64)},
		{path: "/noabi", calls: 1, err: "module downloaded from URL/noabi: it exports none of proxy_abi_version_0_2_1, proxy_abi_version_0_2_0, proxy_abi_version_0_1_0: not a proxy-wasm module"},
		{path: "/big", max: 1024, calls: 1, err: "wasm module download failed after 1 attempts, last error: wasm module from URL/big is larger than the limit of 1024 bytes"},
	} {
		calls.Store(0)
		f := quick
		f.MaxSize = tc.max
		got, err := f.Fetch(context.Background(), srv.URL+tc.path, tc.sha, "")
		want := strings.ReplaceAll(tc.err, "URL", srv.URL)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%s: %v", tc.path, err)
		case tc.err == "" && (got.SHA256 != pluginSHA || !bytes.Equal(got.Bytes, mod)):
			t.Errorf("%s: wrong module", tc.path)
		case tc.err != "" && (err == nil || err.Error() != want):
			t.Errorf("%s: error %v\nwant %s", tc.path, err, want)
		}
		if calls.Load() != tc.calls {
			t.Errorf("%s: %d requests, want %d", tc.path, calls.Load(), tc.calls)
		}
	}
}

// A server that accepts and never answers: each attempt times out.
func TestFetchTimeout(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	}()
	f := quick
	f.Timeout, f.Attempts = 50*time.Millisecond, 2
	_, err = f.Fetch(context.Background(), "http://"+l.Addr().String()+"/x.wasm", "", "")
	if err == nil || !strings.Contains(err.Error(), "wasm module download failed after 2 attempts") ||
		!strings.Contains(err.Error(), "Client.Timeout exceeded") {
		t.Fatalf("error %v", err)
	}
}

func TestExportsHostile(t *testing.T) {
	for _, b := range [][]byte{nil, []byte("\x00asm"), []byte("\x00asm\x01\x00\x00\x00\x07\xff\xff\xff\xff\x0f"),
		[]byte("\x00asm\x01\x00\x00\x00\x07\x05\x80\x80\x80\x80\x80")} {
		if _, err := Exports(b); err == nil {
			t.Errorf("%q: no error", b)
		}
	}
	names, err := Exports(plugin(t))
	if err != nil || !strings.Contains(strings.Join(names, " "), "proxy_abi_version_0_2_1") {
		t.Fatalf("%v %v", names, err)
	}
}

func FuzzExports(f *testing.F) {
	f.Add([]byte("\x00asm\x01\x00\x00\x00\x07\x01\x00"))
	f.Fuzz(func(t *testing.T, b []byte) { _, _ = Exports(b) })
}

func newStore(t *testing.T, onChange func()) *Store {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s, err := NewStore(ctx, StoreOptions{Fetcher: quick, Cache: &Cache{Dir: t.TempDir()}, ServingBase: "http://127.0.0.1:18002",
		RetryBase: 20 * time.Millisecond, RetryMax: 40 * time.Millisecond, OnChange: onChange})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A URL that 404s is retried in the background; once it serves the
// module the store says so and reports a change, without any edit.
func TestStoreRetriesFailedURLs(t *testing.T) {
	mod := plugin(t)
	var up atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !up.Load() {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(mod)
	}))
	defer srv.Close()
	changed := make(chan struct{}, 10)
	s := newStore(t, func() { changed <- struct{}{} })
	code := gatewayapi.WasmCode{URL: srv.URL + "/p.wasm"}
	s.Ensure([]gatewayapi.WasmCode{code})
	s.Wait(context.Background(), []gatewayapi.WasmCode{code})
	if _, err := s.Snapshot().WasmModule(code); err == nil || !strings.Contains(err.Error(), "status code 404") {
		t.Fatalf("want the 404, got %v", err)
	}
	<-changed
	up.Store(true)
	select {
	case <-changed:
	case <-time.After(10 * time.Second):
		t.Fatal("no change reported after the URL came back")
	}
	m, err := s.Snapshot().WasmModule(code)
	if err != nil || m.SHA256 != pluginSHA || !strings.HasPrefix(m.ServingURL, "http://127.0.0.1:18002/") {
		t.Fatalf("%+v %v", m, err)
	}
	// The server serves it at its path, and nothing else.
	h := s.Handler()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", strings.TrimPrefix(m.ServingURL, "http://127.0.0.1:18002"), nil))
	if rec.Code != 200 || !bytes.Equal(rec.Body.Bytes(), mod) {
		t.Fatalf("serving: %d", rec.Code)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/other.wasm", nil))
	if rec.Code != 404 {
		t.Fatalf("unknown path: %d", rec.Code)
	}
}

// With a declared sha256, a second store on the same cache directory (a
// restart) uses the cached file without downloading.
func TestStoreCacheHit(t *testing.T) {
	mod := plugin(t)
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		_, _ = w.Write(mod)
	}))
	defer srv.Close()
	dir := t.TempDir()
	code := gatewayapi.WasmCode{URL: srv.URL + "/p.wasm", SHA256: pluginSHA}
	var first string
	for i := range 2 {
		s, err := NewStore(context.Background(), StoreOptions{Fetcher: quick, Cache: &Cache{Dir: dir}})
		if err != nil {
			t.Fatal(err)
		}
		s.Ensure([]gatewayapi.WasmCode{code})
		s.Wait(context.Background(), []gatewayapi.WasmCode{code})
		m, err := s.Snapshot().WasmModule(code)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = m.ServingURL
		} else if m.ServingURL != first {
			t.Errorf("serving path changed across restarts: %s %s", first, m.ServingURL)
		}
	}
	if calls.Load() != 1 {
		t.Errorf("%d downloads, want 1", calls.Load())
	}
	if _, err := os.Stat((&Cache{Dir: dir}).Path(code.URL, pluginSHA)); err != nil {
		t.Error(err)
	}
}

func TestCacheLimit(t *testing.T) {
	c := &Cache{Dir: t.TempDir(), Limit: 10}
	if _, err := c.Put("u", "s", make([]byte, 11)); err == nil || err.Error() != "wasm cache size exceeded the limit: 10" {
		t.Fatal(err)
	}
}
