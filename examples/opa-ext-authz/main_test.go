package main

import "testing"

func TestPluginConfig(t *testing.T) {
	cfg, addr, err := pluginConfig([]string{
		"plugins.envoy_ext_authz_grpc.addr=unix:///shared/opa/opa.sock",
		"plugins.envoy_ext_authz_grpc.query=data.envoy.authz.allow",
	})
	if err != nil || addr != "unix:///shared/opa/opa.sock" || cfg.Query != "data.envoy.authz.allow" {
		t.Fatalf("%+v %q %v", cfg, addr, err)
	}
	if cfg, _, _ := pluginConfig([]string{"plugins.envoy_ext_authz_grpc.path=envoy/authz/allow"}); cfg.Query != "data.envoy.authz.allow" {
		t.Fatalf("path: %q", cfg.Query)
	}
	for _, bad := range [][]string{
		{"plugins.envoy_ext_authz_grpc.path=a", "plugins.envoy_ext_authz_grpc.query=data.a"},
		{"plugins.other.addr=x"},
		{"plugins.envoy_ext_authz_grpc.dry-run=maybe"},
	} {
		if _, _, err := pluginConfig(bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
