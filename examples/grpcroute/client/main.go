// Command client calls grpc.health.v1.Health/Check (or -method Watch,
// which the walkthrough's GRPCRoute does not route) through the Gateway
// and prints the answer or the gRPC status.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "the Gateway's gRPC listener")
	service := flag.String("service", "demo", "the health service to ask about")
	method := flag.String("method", "Check", "Check or Watch")
	flag.Parse()
	conn, err := grpc.NewClient(*addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cli := healthpb.NewHealthClient(conn)
	var r *healthpb.HealthCheckResponse
	if *method == "Watch" {
		var stream grpc.ServerStreamingClient[healthpb.HealthCheckResponse]
		if stream, err = cli.Watch(ctx, &healthpb.HealthCheckRequest{Service: *service}); err == nil {
			r, err = stream.Recv()
		}
	} else {
		r, err = cli.Check(ctx, &healthpb.HealthCheckRequest{Service: *service})
	}
	if err != nil {
		st := status.Convert(err)
		fmt.Printf("gRPC status %s (%d) %q\n", st.Code(), st.Code(), st.Message())
		os.Exit(1)
	}
	fmt.Println(r.GetStatus())
}
