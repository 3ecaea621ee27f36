// Command extension-server is the example extension server of the Extension
// Server guide (see README.md).
//
//	go run ./examples/extension-server -address unix:///tmp/ext.sock
package main

import (
	"flag"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/portico-gw/portico/examples/extension-server/server"
	sdk "github.com/portico-gw/portico/pkg/extension"
)

func main() {
	addr := flag.String("address", "127.0.0.1:5005", "listen address: host:port or unix:///path")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	network, address := "tcp", *addr
	if p, ok := strings.CutPrefix(address, "unix://"); ok {
		network, address = "unix", p
		_ = os.Remove(p)
	}
	lis, err := net.Listen(network, address)
	if err != nil {
		log.Error("listen", "err", err)
		os.Exit(1)
	}
	s := sdk.Serve(lis, &server.Server{Log: log})
	log.Info("extension server listening", "address", *addr)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	s.GracefulStop()
}
