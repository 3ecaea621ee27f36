package translate

import (
	"context"
	"log/slog"
	"net"
	"os"
	"strconv"

	"github.com/portico-gw/portico/internal/gatewayapi"
	"github.com/portico-gw/portico/internal/ir"
	"github.com/portico-gw/portico/internal/resource"
	"github.com/portico-gw/portico/internal/wasm"
)

// fetchWasm downloads the Wasm modules the policies use, as `portico run`
// does, so that the statuses and the xDS show what the server would
// publish (serving URLs on the default wasm port). A module that cannot
// be fetched becomes its policy's status, never an error here.
func fetchWasm(ctx context.Context, set *resource.Set, cacheDir string) (gatewayapi.WasmModules, *ir.WasmServer, func(), error) {
	codes := gatewayapi.WasmCodes(set)
	host, port, _ := net.SplitHostPort(wasm.DefaultServerAddress)
	p, _ := strconv.Atoi(port)
	server := &ir.WasmServer{Host: host, Port: uint32(p)}
	if len(codes) == 0 {
		return nil, server, func() {}, nil
	}
	if cacheDir == "" {
		cacheDir = wasm.DefaultCacheDir()
	}
	ctx, cancel := context.WithCancel(ctx)
	// Downloads that fail are reported in the policies' status; the log
	// says only that much more on stderr.
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	store, err := wasm.NewStore(ctx, wasm.StoreOptions{Cache: &wasm.Cache{Dir: cacheDir},
		ServingBase: "http://" + wasm.DefaultServerAddress, Logger: log})
	if err != nil {
		cancel()
		return nil, nil, nil, err
	}
	store.Ensure(codes)
	store.Wait(ctx, codes)
	return store.Snapshot(), server, cancel, nil
}
