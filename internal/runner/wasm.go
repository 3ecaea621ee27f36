package runner

import (
	"crypto/tls"
	"path/filepath"

	"context"
	"fmt"
	"github.com/portico-gw/portico/internal/certs"
	"net"
	"strconv"
	"time"

	"github.com/portico-gw/portico/internal/gatewayapi"
	"github.com/portico-gw/portico/internal/ir"
	"github.com/portico-gw/portico/internal/resource"
	"github.com/portico-gw/portico/internal/wasm"
)

// DefaultWasmWait is how long a translation waits for Wasm modules being
// downloaded before it goes ahead without them; a module that arrives
// later triggers a new translation.
const DefaultWasmWait = 5 * time.Second

// listenWasm binds the wasm server's address.
func (r *Runner) listenWasm() error {
	addr := r.opts.WasmAddress
	if addr == "" {
		addr = wasm.DefaultServerAddress
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("wasm server: %w", err)
	}
	r.wasmLn = l
	return nil
}

// WasmAddr is the bound wasm server address (after Start).
func (r *Runner) WasmAddr() string { return r.wasmLn.Addr().String() }

// startWasm creates the module store, whose downloads end with ctx, and
// serves it. A module whose outcome changes (downloaded at last, or
// failed) wakes the loop, which translates again: a URL that comes back
// is picked up without any edit.
func (r *Runner) startWasm(ctx context.Context, serverTLS *tls.Config, run func(string, func() error)) error {
	r.wasmChanged = make(chan struct{}, 1)
	dir := r.opts.WasmCacheDir
	if dir == "" {
		dir = wasm.DefaultCacheDir()
	}
	store, err := wasm.NewStore(ctx, wasm.StoreOptions{
		Fetcher:     r.opts.WasmFetch,
		Cache:       &wasm.Cache{Dir: dir},
		ServingBase: "https://" + net.JoinHostPort(r.wasmServer().Host, strconv.Itoa(int(r.wasmServer().Port))),
		RetryBase:   r.opts.WasmRetry,
		Logger:      r.log.With("component", "wasm"),
		OnChange: func() {
			select {
			case r.wasmChanged <- struct{}{}:
			default:
			}
		},
	})
	if err != nil {
		return err
	}
	r.wasm = store
	run("wasm", func() error { return store.Serve(ctx, r.wasmLn, serverTLS) })
	return nil
}

// wasmModules starts the downloads a set needs and returns what is known
// after waiting at most WasmWait, for the translation to look up.
func (r *Runner) wasmModules(ctx context.Context, set *resource.Set) (gatewayapi.WasmModules, *ir.WasmServer) {
	server := r.wasmServer()
	if r.wasm == nil {
		return nil, server
	}
	codes := gatewayapi.WasmCodes(set)
	r.wasm.Ensure(codes)
	wait := r.opts.WasmWait
	if wait <= 0 {
		wait = DefaultWasmWait
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	r.wasm.Wait(wctx, codes)
	return r.wasm.Snapshot(), server
}

// wasmServer is how the proxies reach the wasm server (Options.WasmServer):
// by default the bound address, with the proxy certificate files of the
// state directory, for proxies on this host.
func (r *Runner) wasmServer() *ir.WasmServer {
	if r.opts.WasmServer != nil {
		return r.opts.WasmServer
	}
	host, port, _ := net.SplitHostPort(r.WasmAddr())
	p, _ := strconv.Atoi(port)
	return &ir.WasmServer{Host: host, Port: uint32(p), TLS: ProxyCertFiles(filepath.Join(r.CertsDir(), certs.Proxy))}
}

// ProxyCertFiles names the proxies' side of the wasm server's mutual TLS
// in a certificate folder (ca.crt, tls.crt, tls.key).
func ProxyCertFiles(dir string) *ir.WasmServerTLS {
	return &ir.WasmServerTLS{
		CAFile:          filepath.Join(dir, certs.CAFile),
		CertificateFile: filepath.Join(dir, certs.CertFile),
		KeyFile:         filepath.Join(dir, certs.KeyFile),
	}
}
