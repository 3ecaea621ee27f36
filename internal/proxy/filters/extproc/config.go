package extproc

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
)

// defaultMessageTimeout is Envoy's message_timeout default.
const defaultMessageTimeout = 200 * time.Millisecond

// config is a compiled ExternalProcessor.
type config struct {
	name              string
	target            target
	mode              *extprocv3.ProcessingMode
	failOpen          bool
	messageTimeout    time.Duration
	maxMessageTimeout time.Duration
	reqAttrs          []string
	respAttrs         []string
	forwardNS         []string
	receiveNS         []string
	allowModeOverride bool
	allowedOverrides  []*extprocv3.ProcessingMode
	observability     bool
	statusOnError     int
	noImmediate       bool
	// clearRouteCache: whether a clear_route_cache of the processor (or,
	// with CLEAR, any request header change) re-selects the route.
	routeCache extprocv3.ExternalProcessor_RouteCacheAction
	noClear    bool
}

// target is the processor's cluster and the call's :authority and
// initial metadata.
type target struct {
	cluster, authority string
	metadata           http.Header
}

// The fields a config may set: anything else changes behaviour Portico
// does not implement, so the config is NACKed naming it.
var (
	supportedFields = []string{"grpc_service", "failure_mode_allow", "processing_mode", "request_attributes",
		"response_attributes", "message_timeout", "stat_prefix", "max_message_timeout", "allow_mode_override",
		"disable_immediate_response", "metadata_options", "observability_mode", "disable_clear_route_cache",
		"route_cache_action", "deferred_close_timeout", "allowed_override_modes", "status_on_error", "filter_metadata"}
	supportedOverrides = []string{"processing_mode", "request_attributes", "response_attributes", "grpc_service",
		"metadata_options", "failure_mode_allow", "grpc_initial_metadata"}
)

func parseConfig(name string, a *anypb.Any) (*config, error) {
	var c extprocv3.ExternalProcessor
	if err := a.UnmarshalTo(&c); err != nil {
		return nil, err
	}
	if err := c.ValidateAll(); err != nil {
		return nil, err
	}
	if bad := unsupportedFields(&c, supportedFields); len(bad) > 0 {
		return nil, fmt.Errorf("fields %s are not supported", strings.Join(bad, ", "))
	}
	tg, err := parseTarget(c.GetGrpcService())
	if err != nil {
		return nil, err
	}
	cfg := &config{
		name: name, target: tg, mode: c.GetProcessingMode(), failOpen: c.GetFailureModeAllow(),
		messageTimeout: defaultMessageTimeout, reqAttrs: c.GetRequestAttributes(), respAttrs: c.GetResponseAttributes(),
		allowModeOverride: c.GetAllowModeOverride(), allowedOverrides: c.GetAllowedOverrideModes(),
		observability: c.GetObservabilityMode(), statusOnError: http.StatusInternalServerError,
		noImmediate: c.GetDisableImmediateResponse(), routeCache: c.GetRouteCacheAction(), noClear: c.GetDisableClearRouteCache(),
	}
	if cfg.mode == nil {
		cfg.mode = &extprocv3.ProcessingMode{}
	}
	if t := c.GetMessageTimeout(); t != nil {
		cfg.messageTimeout = t.AsDuration()
	}
	if t := c.GetMaxMessageTimeout(); t != nil {
		cfg.maxMessageTimeout = t.AsDuration()
	}
	if s := c.GetStatusOnError(); s != nil {
		cfg.statusOnError = int(s.GetCode())
	}
	if cfg.forwardNS, cfg.receiveNS, err = parseMetadataOptions(c.GetMetadataOptions()); err != nil {
		return nil, err
	}
	return cfg, nil
}

func parseTarget(g *corev3.GrpcService) (target, error) {
	eg := g.GetEnvoyGrpc()
	if eg == nil {
		return target{}, fmt.Errorf("grpc_service: only envoy_grpc is supported")
	}
	if bad := unsupportedFields(eg, []string{"cluster_name", "authority"}); len(bad) > 0 {
		return target{}, fmt.Errorf("grpc_service.envoy_grpc: fields %s are not supported", strings.Join(bad, ", "))
	}
	// timeout bounds a whole call in Envoy; for a stream per request the
	// message timeout is what applies (Envoy Gateway always writes 10s).
	if bad := unsupportedFields(g, []string{"envoy_grpc", "timeout", "initial_metadata"}); len(bad) > 0 {
		return target{}, fmt.Errorf("grpc_service: fields %s are not supported", strings.Join(bad, ", "))
	}
	tg := target{cluster: eg.GetClusterName(), authority: eg.GetAuthority()}
	if tg.authority == "" {
		tg.authority = tg.cluster
	}
	for _, md := range g.GetInitialMetadata() {
		if tg.metadata == nil {
			tg.metadata = http.Header{}
		}
		v := md.GetValue()
		if len(md.GetRawValue()) > 0 {
			v = string(md.GetRawValue())
		}
		tg.metadata.Add(md.GetKey(), v)
	}
	return tg, nil
}

func parseMetadataOptions(m *extprocv3.MetadataOptions) ([]string, []string, error) {
	if m == nil {
		return nil, nil, nil
	}
	if bad := unsupportedFields(m, []string{"forwarding_namespaces", "receiving_namespaces"}); len(bad) > 0 {
		return nil, nil, fmt.Errorf("metadata_options: fields %s are not supported", strings.Join(bad, ", "))
	}
	if len(m.GetForwardingNamespaces().GetTyped()) > 0 || len(m.GetReceivingNamespaces().GetTyped()) > 0 {
		return nil, nil, fmt.Errorf("metadata_options: typed namespaces are not supported")
	}
	return m.GetForwardingNamespaces().GetUntyped(), m.GetReceivingNamespaces().GetUntyped(), nil
}

// perRoute is a compiled ExtProcPerRoute: disabled, or overrides.
type perRoute struct {
	disabled  bool
	mode      *extprocv3.ProcessingMode
	reqAttrs  []string
	respAttrs []string
	target    *target
	failOpen  *bool
	forwardNS []string
	receiveNS []string
	hasMD     bool
}

func parsePerRoute(a *anypb.Any) (any, error) {
	var pr extprocv3.ExtProcPerRoute
	if err := a.UnmarshalTo(&pr); err != nil {
		return nil, err
	}
	if err := pr.ValidateAll(); err != nil {
		return nil, err
	}
	out := &perRoute{disabled: pr.GetDisabled()}
	o := pr.GetOverrides()
	if o == nil {
		return out, nil
	}
	if bad := unsupportedFields(o, supportedOverrides); len(bad) > 0 {
		return nil, fmt.Errorf("ext_proc per-route overrides: fields %s are not supported", strings.Join(bad, ", "))
	}
	out.mode, out.reqAttrs, out.respAttrs = o.GetProcessingMode(), o.GetRequestAttributes(), o.GetResponseAttributes()
	if o.GetFailureModeAllow() != nil {
		v := o.GetFailureModeAllow().GetValue()
		out.failOpen = &v
	}
	if o.GetGrpcService() != nil {
		tg, err := parseTarget(o.GetGrpcService())
		if err != nil {
			return nil, err
		}
		out.target = &tg
	}
	for _, md := range o.GetGrpcInitialMetadata() {
		if out.target == nil {
			out.target = &target{}
		}
		if out.target.metadata == nil {
			out.target.metadata = http.Header{}
		}
		out.target.metadata.Set(md.GetKey(), md.GetValue())
	}
	if o.GetMetadataOptions() != nil {
		var err error
		if out.forwardNS, out.receiveNS, err = parseMetadataOptions(o.GetMetadataOptions()); err != nil {
			return nil, err
		}
		out.hasMD = true
	}
	return out, nil
}

// effective applies a route's overrides to the filter's config.
func (c *config) effective(pr *perRoute) *config {
	if pr == nil {
		return c
	}
	out := *c
	if pr.mode != nil {
		out.mode = pr.mode
	}
	if len(pr.reqAttrs) > 0 {
		out.reqAttrs = pr.reqAttrs
	}
	if len(pr.respAttrs) > 0 {
		out.respAttrs = pr.respAttrs
	}
	if pr.failOpen != nil {
		out.failOpen = *pr.failOpen
	}
	if pr.target != nil {
		tg := *pr.target
		if tg.cluster == "" {
			tg.cluster, tg.authority = c.target.cluster, c.target.authority
		}
		out.target = tg
	}
	if pr.hasMD {
		out.forwardNS, out.receiveNS = pr.forwardNS, pr.receiveNS
	}
	return &out
}

// unsupportedFields lists the populated fields of m not in allowed.
func unsupportedFields(m proto.Message, allowed []string) []string {
	ok := map[string]bool{}
	for _, f := range allowed {
		ok[f] = true
	}
	var bad []string
	m.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		if !ok[string(fd.Name())] {
			bad = append(bad, string(fd.Name()))
		}
		return true
	})
	sort.Strings(bad)
	return bad
}
