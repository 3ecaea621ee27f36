package wasm

import (
	"context"
	"crypto/tls"
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

// Serve runs the wasm HTTP server on l until ctx ends. With serverTLS
// (the control plane's certificate, client certificates required, as
// Envoy Gateway's port 18002) proxies reach it over HTTP/2 with mutual
// TLS; without, over HTTP/2 without TLS or HTTP/1.1. A module of a
// private image must reach only the proxies.
func (s *Store) Serve(ctx context.Context, l net.Listener, serverTLS *tls.Config) error {
	var protos http.Protocols
	protos.SetHTTP1(true)
	if serverTLS == nil {
		protos.SetUnencryptedHTTP2(true)
	} else {
		protos.SetHTTP2(true)
		// net/http sets up HTTP/2 on a TLS listener only when the
		// config it is given offers h2 itself, whatever the per-client
		// config (certs.ServerConfig) negotiates.
		serverTLS = serverTLS.Clone()
		serverTLS.NextProtos = []string{"h2"}
		l = tls.NewListener(l, serverTLS)
	}
	srv := &http.Server{Handler: s.Handler(), Protocols: &protos, ReadHeaderTimeout: 10 * time.Second, TLSConfig: serverTLS}
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
