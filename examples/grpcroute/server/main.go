// Command server is the GRPCRoute walkthrough's backend: gRPC's health
// service on 127.0.0.1:9000 (-addr), reporting service "demo" SERVING.
package main

import (
	"flag"
	"log"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9000", "address to serve gRPC on")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	s := grpc.NewServer()
	hs := health.NewServer()
	hs.SetServingStatus("demo", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(s, hs)
	log.Printf("gRPC health service on %s", ln.Addr())
	log.Fatal(s.Serve(ln))
}
