package wasm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/tetratelabs/wazero"

	"github.com/portico-gw/portico/internal/proxy/filters/wasm/abi"
)

// maxCallBody caps an http-call response a plugin receives.
const maxCallBody = 1 << 20

// call performs a plugin's proxy_http_call through a cluster of the
// config, with the cluster's own balancing and TLS.
func (l *loaded) call(ctx context.Context, r abi.CallRequest) (abi.CallResponse, error) {
	if l.bc.Upstreams == nil {
		return abi.CallResponse{}, errors.New("no clusters")
	}
	var method, path, authority, scheme string
	h := http.Header{}
	for _, p := range r.Headers {
		switch p[0] {
		case ":method":
			method = p[1]
		case ":path":
			path = p[1]
		case ":authority":
			authority = p[1]
		case ":scheme":
			scheme = p[1]
		default:
			h.Add(p[0], p[1])
		}
	}
	if scheme == "" {
		scheme = "http"
	}
	req, err := http.NewRequestWithContext(ctx, method, scheme+"://"+authority+path, bytes.NewReader(r.Body))
	if err != nil {
		return abi.CallResponse{}, fmt.Errorf("http call to %s: %w", r.Cluster, err)
	}
	req.Header = h
	req.Host = authority
	resp, err := l.bc.Upstreams().RoundTrip(r.Cluster, req)
	if err != nil {
		return abi.CallResponse{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxCallBody+1))
	if err != nil {
		return abi.CallResponse{}, err
	}
	if len(body) > maxCallBody {
		return abi.CallResponse{}, fmt.Errorf("http call to %s: response larger than %d bytes", r.Cluster, maxCallBody)
	}
	out := abi.CallResponse{Body: body, Headers: [][2]string{{":status", strconv.Itoa(resp.StatusCode)}}}
	out.Headers = append(out.Headers, headerPairs(resp.Header)...)
	out.Trailers = headerPairs(resp.Trailer)
	return out, nil
}

// headerPairs lists a Go header map with lower-case names, sorted.
func headerPairs(h http.Header) [][2]string {
	var out [][2]string
	for _, k := range sortedHeaderKeys(h) {
		for _, v := range h[k] {
			out = append(out, [2]string{strings.ToLower(k), v})
		}
	}
	return out
}

// CompilationCacheDir is where compiled modules are kept between runs, so
// that a restart does not compile again ($PORTICO_WASM_COMPILATION_CACHE,
// else <user cache dir>/portico/wasm-compiled).
func CompilationCacheDir() string {
	if d := os.Getenv("PORTICO_WASM_COMPILATION_CACHE"); d != "" {
		return d
	}
	d, err := os.UserCacheDir()
	if err != nil {
		d = os.TempDir()
	}
	return filepath.Join(d, "portico", "wasm-compiled")
}

var (
	cacheMu sync.Mutex
	caches  = map[string]wazero.CompilationCache{}
)

// compilationCache is the process's compilation cache of Options'
// directory (CompilationCacheDir() by default), one per directory, in
// memory when the directory cannot be used.
func compilationCache() wazero.CompilationCache {
	dir := Options.CompilationCacheDir
	if dir == "" {
		dir = CompilationCacheDir()
	}
	cacheMu.Lock()
	defer cacheMu.Unlock()
	if c := caches[dir]; c != nil {
		return c
	}
	c, err := wazero.NewCompilationCacheWithDir(dir)
	if err != nil {
		c = wazero.NewCompilationCache()
	}
	caches[dir] = c
	return c
}
