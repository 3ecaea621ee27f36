// Command ext-proc is the example external processor of the External
// Processing guide (see README.md): gRPC with TLS on a TCP port and, when
// asked, on a unix socket too.
package main

import (
	"context"
	"errors"
	"flag"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"

	extprocsvc "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/portico-gw/portico/examples/ext-proc/processor"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9002", "TCP address of the gRPC server (TLS)")
	unix := flag.String("unix", "", "also serve on this unix socket path (TLS too)")
	certs := flag.String("certs", "/tmp/portico-ext-proc", "directory of server.crt and server.key; created with a CA (ca.crt, ca-configmap.yaml) when missing")
	ns := flag.String("namespace", "default", "namespace of the generated CA ConfigMap")
	duplex := flag.Bool("full-duplex", false, "answer bodies as the FullDuplexStreamed mode requires")
	flag.Parse()

	tlsCfg, err := processor.LoadTLS(*certs, processor.Hostname, *ns)
	if err != nil {
		log.Fatal(err)
	}
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(tlsCfg)))
	extprocsvc.RegisterExternalProcessorServer(srv, &processor.Server{FullDuplex: *duplex})
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	go serve(srv, ln)
	log.Printf("ext-proc: gRPC with TLS on %s (certificate for %s, CA in %s/ca.crt)", ln.Addr(), processor.Hostname, *certs)
	if *unix != "" {
		_ = os.Remove(*unix)
		uln, err := net.Listen("unix", *unix)
		if err != nil {
			log.Fatal(err)
		}
		go serve(srv, uln)
		log.Printf("ext-proc: gRPC with TLS on unix socket %s", *unix)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	srv.GracefulStop()
}

func serve(srv *grpc.Server, ln net.Listener) {
	if err := srv.Serve(ln); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		log.Fatal(err)
	}
}
