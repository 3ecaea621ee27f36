package wasm

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

// DefaultServerAddress is the wasm port of Envoy Gateway (18002), on
// loopback: standalone proxies run on this host.
const DefaultServerAddress = "127.0.0.1:18002"

// Handler serves the store's modules at their serving paths; any other
// path is 404, so a proxy can fetch only what its xDS names.
func (s *Store) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		file, ok := s.file(strings.TrimPrefix(r.URL.Path, "/"))
		if !ok {
			http.NotFound(w, r)
			return
		}
		f, err := os.Open(file)
		if err != nil {
			http.Error(w, "module not available", http.StatusServiceUnavailable)
			return
		}
		defer f.Close()
		w.Header().Set("Content-Type", "application/wasm")
		http.ServeContent(w, r, "", time.Time{}, f)
	})
}

// Serve runs the wasm HTTP server on l until ctx ends. Proxies reach it
// over HTTP/2 without TLS (wasm_cluster is an HTTP/2 cluster) or HTTP/1.1.
func (s *Store) Serve(ctx context.Context, l net.Listener) error {
	var protos http.Protocols
	protos.SetHTTP1(true)
	protos.SetUnencryptedHTTP2(true)
	srv := &http.Server{Handler: s.Handler(), Protocols: &protos, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
