// Package extensiontest runs a Portico translation of Gateway API YAML
// against an extension server inside a Go test and returns the xDS, so an
// extension server can be tested without a cluster, a control plane or a
// proxy:
//
//	res := extensiontest.Translate(t, myYAML, extensiontest.Options{
//		Server: &myServer{},
//		Config: myEnvoyGatewayYAML, // extensionManager: resources, hooks, ...
//	})
//	l := res.Fleet("default/eg").Listeners[0]
//
// The server is served on a unix socket in t.TempDir(); the manager's
// service is pointed at it, everything else in the configuration (hooks,
// resources, policyResources, translation.includeAll, failOpen,
// maxMessageSize, retry) applies as written. The translation is the one
// `portico x translate` and the server run.
package extensiontest

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
	"github.com/portico-gw/portico/internal/extension"
	"github.com/portico-gw/portico/internal/pipeline"
	"github.com/portico-gw/portico/internal/resource"
	sdk "github.com/portico-gw/portico/pkg/extension"
	pb "github.com/portico-gw/portico/proto/extension"
)

// Options say what to run.
type Options struct {
	// Server is the extension server under test.
	Server pb.EnvoyGatewayExtensionServer
	// Config is an EnvoyGateway configuration (YAML) with an
	// extensionManager or extensionManagers; every manager's service is
	// replaced by Server. Empty: one manager with every post hook.
	Config string
	// CallTimeout bounds each hook call (default 5s).
	CallTimeout time.Duration
}

// Resources is the xDS of one fleet, in Portico's deterministic order.
type Resources struct {
	Listeners []*listenerv3.Listener
	Routes    []*routev3.RouteConfiguration
	Clusters  []*clusterv3.Cluster
	Endpoints []*endpointv3.ClusterLoadAssignment
	Secrets   []*tlsv3.Secret
}

// Result is the translation's outcome.
type Result struct {
	// Fleets are keyed "<namespace>/<gateway>" (or the GatewayClass name
	// with merged gateways). A fleet an extension hook failed for has
	// nil resources and its reason in Errors.
	Fleets map[string]*Resources
	// Errors are translation and extension errors, "<fleet>: <error>".
	Errors []string
	// Problems are input problems (invalid or unknown objects).
	Problems []string
}

// Fleet returns one fleet's resources, failing the test when it is absent.
func (r *Result) Fleet(t testing.TB, key string) *Resources {
	t.Helper()
	f := r.Fleets[key]
	if f == nil {
		t.Fatalf("no xDS for fleet %q (errors: %v)", key, r.Errors)
	}
	return f
}

// Translate translates yaml with opts.Server as the extension server.
func Translate(t testing.TB, yaml string, opts Options) *Result {
	t.Helper()
	dir := t.TempDir()
	sock := filepath.Join(dir, "ext.sock")
	lis, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	s := sdk.Serve(lis, opts.Server)
	defer s.Stop()

	cfg := &egv1a1.EnvoyGateway{}
	if opts.Config != "" {
		if cfg, err = resource.ParseConfig("config.yaml", []byte(opts.Config)); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range extension.Configs(cfg) {
		if m != nil {
			m.Service = &egv1a1.ExtensionService{Unix: &egv1a1.UnixSocket{Path: sock}}
		}
	}
	in := filepath.Join(dir, "input.yaml")
	if err := os.WriteFile(in, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	set, problems, err := resource.Load([]string{in}, extension.LoadOptions(cfg)...)
	if err != nil {
		t.Fatal(err)
	}
	addr := ""
	if len(extension.Configs(cfg)) == 0 {
		addr = "unix://" + sock
	}
	m, err := extension.New(cfg, extension.Options{Address: addr, CallTimeout: opts.CallTimeout,
		Secret: func(ns, name string) (map[string][]byte, error) {
			for _, s := range set.Secrets {
				if s.Namespace == ns && s.Name == name {
					return s.Data, nil
				}
			}
			return nil, os.ErrNotExist
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	pr := pipeline.Run(context.Background(), set, cfg, pipeline.Options{Extensions: m})
	out := &Result{Fleets: map[string]*Resources{}, Errors: pipeline.ErrorsOf(pr)}
	for _, p := range problems {
		out.Problems = append(out.Problems, p.String())
	}
	for _, f := range pr.Fleets {
		if f.Resources == nil {
			continue
		}
		r := f.Resources
		out.Fleets[f.Key] = &Resources{Listeners: r.Listeners, Routes: r.Routes, Clusters: r.Clusters,
			Endpoints: r.Endpoints, Secrets: r.Secrets}
	}
	return out
}

// Listener returns the listener of that name, failing the test when it is
// absent.
func (r *Resources) Listener(t testing.TB, name string) *listenerv3.Listener {
	t.Helper()
	for _, l := range r.Listeners {
		if l.GetName() == name {
			return l
		}
	}
	t.Fatalf("no listener %q", name)
	return nil
}
