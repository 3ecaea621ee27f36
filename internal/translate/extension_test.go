package translate

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portico-gw/portico/examples/extension-server/server"
	"github.com/portico-gw/portico/internal/pipeline"
	"github.com/portico-gw/portico/internal/resource"
	sdk "github.com/portico-gw/portico/pkg/extension"
)

// TestExtensionServerScenario is the guide's scenario offline: the example
// server adds basic_auth with the users of the ListenerContextExample
// attached to the Gateway (`x translate --extension-server`).
func TestExtensionServerScenario(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "ext.sock")
	lis, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	s := sdk.Serve(lis, &server.Server{})
	defer s.Stop()
	cfgData, err := os.ReadFile("../../examples/extension-server/envoy-gateway.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := resource.ParseConfig("envoy-gateway.yaml", cfgData)
	if err != nil {
		t.Fatal(err)
	}
	report, err := Run(Options{
		Paths: []string{"../../examples/extension-server/example.yaml"}, Config: cfg,
		To: []string{ToXDS, ToGatewayAPI}, ExtensionServer: "unix://" + sock,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(report.Problems) > 0 || len(report.Errors) > 0 {
		t.Fatalf("problems %v errors %v", report.Problems, report.Errors)
	}
	data, err := report.Output.Marshal("yaml")
	if err != nil {
		t.Fatal(err)
	}
	out := string(data)
	for _, want := range []string{"envoy.filters.http.basic_auth", "forwardUsernameHeader: X-Example-Ext"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if !strings.Contains(out, "user:{SHA}") {
		t.Errorf("no user in the filter:\n%s", out)
	}
}

// TestExtensionFailureKeepsNothing: with the server down and failOpen
// false, the fleet has no resources (the server keeps the last good ones)
// and the Gateway says why.
func TestExtensionFailureMarksGateway(t *testing.T) {
	cfgData, _ := os.ReadFile("../../examples/extension-server/envoy-gateway.yaml")
	cfg, err := resource.ParseConfig("envoy-gateway.yaml", cfgData)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ExtensionManager.Service.Unix.Path = filepath.Join(t.TempDir(), "nobody.sock")
	set, _, err := resource.Load([]string{"../../examples/extension-server/example.yaml"}, extensionLoadOptions(cfg)...)
	if err != nil {
		t.Fatal(err)
	}
	hooks, closeFn, err := extensionHooks("", cfg, set)
	if err != nil {
		t.Fatal(err)
	}
	defer closeFn()
	r := pipeline.Run(set, cfg, pipeline.Options{Extensions: hooks})
	f := r.Fleet("default/eg")
	if f == nil || f.Resources != nil || f.ExtensionError == "" {
		t.Fatalf("fleet %+v", f)
	}
	found := false
	for _, c := range r.Gateway.Gateways[0].Status.Conditions {
		if c.Type == "Programmed" && c.Reason == pipeline.ReasonExtensionError {
			found = true
		}
	}
	if !found {
		t.Errorf("gateway conditions %+v", r.Gateway.Gateways[0].Status.Conditions)
	}
}
