// Package authz is an envoy.service.auth.v3 Authorization server that
// evaluates Rego policies with OPA's own library, giving them the `input`
// document and decision semantics of OPA's Envoy plugin
// (opa-envoy-plugin), so that policies written for that plugin run
// unchanged. It stands in for the plugin, which is not published as a Go
// module, in Portico's OPA sidecar example.
package authz

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	grpcstatus "google.golang.org/grpc/status"
)

// Config is what the plugin's configuration and OPA's command line give.
type Config struct {
	// Query is the decision to evaluate, e.g. "data.envoy.authz.allow"
	// (the plugin's `query`; its `path` "envoy/authz/allow" is the same).
	Query string
	// Modules are the Rego sources by file name.
	Modules map[string]string
	// Env is what opa.runtime().env returns (the process environment).
	Env map[string]string
	// DryRun allows every request, still evaluating the policy.
	DryRun bool
	// SkipBodyParse leaves parsed_body and truncated_body out.
	SkipBodyParse bool
	Log           *slog.Logger
}

// QueryFromPath turns the plugin's `path` into a query.
func QueryFromPath(path string) string {
	return "data." + strings.ReplaceAll(strings.Trim(path, "/"), "/", ".")
}

// Server answers Check calls.
type Server struct {
	authv3.UnimplementedAuthorizationServer
	cfg     Config
	query   rego.PreparedEvalQuery
	serving atomic.Bool
	log     *slog.Logger
}

// New compiles the policies; a policy that does not compile is an error
// here, not on the first request.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Query == "" {
		cfg.Query = QueryFromPath("envoy/authz/allow")
	}
	env := map[string]any{}
	for k, v := range cfg.Env {
		env[k] = v
	}
	rt, err := ast.InterfaceToValue(map[string]any{"env": env})
	if err != nil {
		return nil, err
	}
	opts := []func(*rego.Rego){rego.Query(cfg.Query), rego.Runtime(ast.NewTerm(rt))}
	for name, src := range cfg.Modules {
		opts = append(opts, rego.Module(name, src))
	}
	pq, err := rego.New(opts...).PrepareForEval(ctx)
	if err != nil {
		return nil, err
	}
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	return &Server{cfg: cfg, query: pq, log: log}, nil
}

// EnvFromOS is the process environment as a map.
func EnvFromOS() map[string]string {
	out := map[string]string{}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		out[k] = v
	}
	return out
}

// Check evaluates the policy for one request.
func (s *Server) Check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	in, err := Input(req, s.cfg.SkipBodyParse)
	if err != nil {
		// The plugin answers input it cannot parse with a 400.
		return &authv3.CheckResponse{Status: &status.Status{Code: int32(code.Code_PERMISSION_DENIED)},
			HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{
				Status: &typev3.HttpStatus{Code: typev3.StatusCode_BadRequest}, Body: err.Error()}}}, nil
	}
	decision, err := s.Decide(ctx, in)
	if err != nil {
		s.log.Error("policy evaluation failed", "error", err)
		return nil, grpcstatus.Error(codes.Unknown, err.Error())
	}
	resp, err := Response(decision)
	if err != nil {
		s.log.Error("policy decision not understood", "error", err)
		return nil, grpcstatus.Error(codes.Unknown, err.Error())
	}
	if s.cfg.DryRun {
		s.log.Info("dry-run decision", "allowed", resp.GetStatus().GetCode() == 0)
		return Response(true)
	}
	return resp, nil
}

// Decide evaluates the query for an input document. A query with no
// result is the plugin's "undefined decision".
func (s *Server) Decide(ctx context.Context, input map[string]any) (any, error) {
	rs, err := s.query.Eval(ctx, rego.EvalInput(input))
	if err != nil {
		return nil, err
	}
	if len(rs) == 0 || len(rs[0].Expressions) == 0 {
		return nil, fmt.Errorf("undefined decision")
	}
	if len(rs) > 1 || len(rs[0].Expressions) > 1 {
		return nil, fmt.Errorf("multiple evaluation results")
	}
	return rs[0].Expressions[0].Value, nil
}

// Serve answers gRPC on l until ctx ends.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	g := grpc.NewServer()
	authv3.RegisterAuthorizationServer(g, s)
	go func() {
		<-ctx.Done()
		s.serving.Store(false)
		g.GracefulStop()
	}()
	s.serving.Store(true)
	err := g.Serve(l)
	s.serving.Store(false)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// Health is OPA's /health: 200 {} while the authorization listener
// serves, 500 with an error otherwise. ?bundles (and the legacy
// bundle=true) and ?plugins ask about bundles, of which there are none,
// and the plugin, which is the listener.
func (s *Server) Health(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if !s.serving.Load() {
		w.WriteHeader(http.StatusInternalServerError)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "not all plugins in OK state"})
		return
	}
	_, _ = w.Write([]byte("{}\n"))
}

// Listen opens the plugin's `addr`: "unix:///path" (a stale socket file
// is removed first; the folder is made, as the guide's shared volume
// exists), "unix://@name" (abstract) or host:port.
func Listen(addr string) (net.Listener, error) {
	if p, ok := strings.CutPrefix(addr, "unix://"); ok {
		if !strings.HasPrefix(p, "@") {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return nil, err
			}
			if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
				return nil, err
			}
		}
		return net.Listen("unix", p)
	}
	return net.Listen("tcp", addr)
}
