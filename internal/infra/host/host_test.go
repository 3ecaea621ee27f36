//go:build unix

package host

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/certs"
)

// A stand-in envoy: it records its arguments and bootstrap, then waits to
// be stopped. Envoy itself cannot be installed on these machines.
const fakeEnvoy = `#!/bin/sh
out="$(dirname "$0")"
cp "$2" "$out/bootstrap.json"
echo "$@" > "$out/args.tmp" && mv "$out/args.tmp" "$out/args"
exec sleep 600
`

func TestEnvoyDataPlane(t *testing.T) {
	bin := t.TempDir()
	envoy := filepath.Join(bin, "envoy")
	if err := os.WriteFile(envoy, []byte(fakeEnvoy), 0o755); err != nil {
		t.Fatal(err)
	}
	certsDir := t.TempDir()
	if _, err := certs.Ensure(certsDir, certs.Options{}); err != nil {
		t.Fatal(err)
	}
	runtime := t.TempDir()
	i, err := New(Options{DataPlane: Envoy, EnvoyPath: envoy, XDSAddress: "127.0.0.1:18123", RuntimeDir: runtime, CertsDir: certsDir,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), DrainTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	i.Ensure(ctx, []string{"default/eg"})
	defer i.Close()

	var args []byte
	deadline := time.Now().Add(10 * time.Second)
	for {
		if args, err = os.ReadFile(filepath.Join(bin, "args")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("envoy was not started")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, want := range []string{"-c ", "--use-dynamic-base-id", "--service-cluster default/eg"} {
		if !strings.Contains(string(args), want) {
			t.Errorf("envoy args %q lack %q", args, want)
		}
	}
	raw, err := os.ReadFile(filepath.Join(bin, "bootstrap.json"))
	if err != nil {
		t.Fatal(err)
	}
	var bs struct {
		Node struct {
			ID      string `json:"id"`
			Cluster string `json:"cluster"`
		} `json:"node"`
		StaticResources struct {
			Clusters []struct {
				Name           string          `json:"name"`
				LoadAssignment json.RawMessage `json:"load_assignment"`
			} `json:"clusters"`
		} `json:"static_resources"`
	}
	if err := json.Unmarshal(raw, &bs); err != nil {
		t.Fatal(err)
	}
	if bs.Node.Cluster != "default/eg" || !strings.HasPrefix(bs.Node.ID, "envoy/default/eg/") {
		t.Fatalf("node = %+v", bs.Node)
	}
	found := false
	for _, c := range bs.StaticResources.Clusters {
		la := strings.Join(strings.Fields(string(c.LoadAssignment)), "")
		if c.Name == "xds_cluster" && strings.Contains(la, `"address":"127.0.0.1"`) && strings.Contains(la, `"port_value":18123`) {
			found = true
		}
	}
	if !found {
		t.Fatalf("xds_cluster does not point at the xDS server:\n%s", raw)
	}
	// The xDS connection is mutual TLS through SDS files, as Envoy
	// Gateway's bootstrap: the files name the proxy bundle.
	sds := filepath.Join(runtime, "sds", "xds-certificate.json")
	for _, want := range []string{`"transport_socket"`, `"xds_certificate"`, sds, filepath.Join(runtime, "sds", "xds-trusted-ca.json")} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("the bootstrap lacks %s", want)
		}
	}
	certFile, err := os.ReadFile(sds)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(certsDir, "envoy", "tls.key"); !strings.Contains(string(certFile), want) {
		t.Errorf("xds-certificate.json does not name %s:\n%s", want, certFile)
	}
	if i.Bootstrap("default/eg") == nil {
		t.Fatal("Bootstrap(fleet) is nil for a running envoy")
	}
	if got := i.Fleets(); len(got) != 1 || got[0] != "default/eg" {
		t.Fatalf("Fleets = %v", got)
	}

	// The fleet goes away: its envoy is stopped.
	i.Ensure(ctx, nil)
	if got := i.Fleets(); len(got) != 0 {
		t.Fatalf("Fleets after removal = %v", got)
	}
}

func TestUnknownDataPlane(t *testing.T) {
	if _, err := New(Options{DataPlane: "nginx"}); err == nil {
		t.Fatal("an unknown data plane must be refused")
	}
	for _, o := range []Options{{DataPlane: Builtin}, {DataPlane: Envoy}, {DataPlane: InProcess}} {
		if _, err := New(o); err == nil {
			t.Errorf("%s without certificates (or an in-memory connection) was accepted", o.DataPlane)
		}
	}
	if _, err := New(Options{DataPlane: Envoy, CertsDir: t.TempDir(), EnvoyPath: filepath.Join(t.TempDir(), "no-envoy")}); err == nil ||
		!strings.Contains(err.Error(), "--data-plane builtin") {
		t.Fatalf("a missing envoy must say what to do instead: %v", err)
	}
}
