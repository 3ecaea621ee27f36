// Command opa-ext-authz is the OPA sidecar of Envoy Gateway's OPA guide
// for Portico: an ext_authz (envoy.service.auth.v3) gRPC server on a unix
// socket that evaluates Rego with OPA's library and the semantics of
// OPA's Envoy plugin, with OPA's health endpoint. It takes the guide's
// OPA command line:
//
//	opa-ext-authz run --server --addr=127.0.0.1:8181 \
//	  --set=plugins.envoy_ext_authz_grpc.addr=unix:///tmp/opa.sock \
//	  --set=plugins.envoy_ext_authz_grpc.query=data.envoy.authz.allow \
//	  --ignore=.* --log-level=error policy.rego
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/portico-gw/portico/examples/opa-ext-authz/authz"
)

const pluginPrefix = "plugins.envoy_ext_authz_grpc."

type setFlags []string

func (s *setFlags) String() string     { return strings.Join(*s, ",") }
func (s *setFlags) Set(v string) error { *s = append(*s, v); return nil }

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "opa-ext-authz:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) > 0 && args[0] == "run" {
		args = args[1:]
	}
	fs := flag.NewFlagSet("opa-ext-authz run", flag.ContinueOnError)
	fs.Bool("server", true, "run as a server (always)")
	health := fs.String("addr", "127.0.0.1:8181", "address of the health endpoint (OPA's --addr)")
	var sets setFlags
	fs.Var(&sets, "set", "plugin settings: plugins.envoy_ext_authz_grpc.{addr,path,query,dry-run,skip-request-body-parse}=VALUE")
	fs.String("ignore", "", "accepted for OPA compatibility")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, addr, err := pluginConfig(sets)
	if err != nil {
		return err
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(*level)); err != nil {
		return fmt.Errorf("--log-level: %v", err)
	}
	cfg.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lv}))
	cfg.Env = authz.EnvFromOS()
	cfg.Modules = map[string]string{}
	for _, p := range fs.Args() {
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		cfg.Modules[p] = string(b)
	}
	if len(cfg.Modules) == 0 {
		return fmt.Errorf("no policy files given")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv, err := authz.New(ctx, cfg)
	if err != nil {
		return err
	}
	l, err := authz.Listen(addr)
	if err != nil {
		return err
	}
	hl, err := net.Listen("tcp", *health)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/health", srv.Health)
	hs := &http.Server{Handler: mux}
	go func() { _ = hs.Serve(hl) }()
	defer hs.Close()
	cfg.Log.Info("serving", "ext_authz", addr, "health", "http://"+hl.Addr().String()+"/health", "query", cfg.Query)
	return srv.Serve(ctx, l)
}

// pluginConfig reads the --set values of the envoy_ext_authz_grpc plugin.
func pluginConfig(sets []string) (authz.Config, string, error) {
	var cfg authz.Config
	addr, path := ":9191", ""
	for _, s := range sets {
		k, v, ok := strings.Cut(s, "=")
		name, plugin := strings.CutPrefix(k, pluginPrefix)
		if !ok || !plugin {
			return cfg, "", fmt.Errorf("--set %q: only %s* settings are understood", s, pluginPrefix)
		}
		switch name {
		case "addr":
			addr = v
		case "path":
			path = v
		case "query":
			cfg.Query = v
		case "dry-run", "skip-request-body-parse":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return cfg, "", fmt.Errorf("--set %s: %v", k, err)
			}
			if name == "dry-run" {
				cfg.DryRun = b
			} else {
				cfg.SkipBodyParse = b
			}
		default:
			return cfg, "", fmt.Errorf("--set %s: unknown setting", k)
		}
	}
	if path != "" && cfg.Query != "" {
		return cfg, "", errors.New("set either path or query, not both")
	}
	if path != "" {
		cfg.Query = authz.QueryFromPath(path)
	}
	return cfg, addr, nil
}
