package translator

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/portico-gw/portico/internal/ir"
)

const extProcFilterName = "envoy.filters.http.ext_proc"

// extProcGRPCTimeout is the grpc_service timeout Envoy Gateway always
// writes (the processor's own deadlines are message_timeout).
const extProcGRPCTimeout = 10 * time.Second

// ext_proc follows Envoy Gateway's layout: one disabled HCM entry per
// processor (envoy.filters.http.ext_proc/<IR name>), enabled per route, and
// one cluster per processor named by its destination, always HTTP/2. The
// entries are ordered by the trailing index of their name, then by name,
// which is Envoy Gateway's rank (100 + index, ties by name).
func init() {
	RegisterHTTPFilter(HTTPFilter{
		Name:     extProcFilterName,
		Rank:     RankExtProc,
		Listener: extProcListenerFilters,
		Route:    extProcRouteConfig,
	})
}

func extProcInstanceName(e *ir.ExtProc) string { return extProcFilterName + "/" + e.Name }

// extProcIndex is the trailing /<n> of an IR name (0 when there is none).
func extProcIndex(name string) int {
	i := strings.LastIndexByte(name, '/')
	n, err := strconv.Atoi(name[i+1:])
	if err != nil {
		return 0
	}
	return n
}

func extProcListenerFilters(c *ListenerContext) ([]*hcmv3.HttpFilter, error) {
	out, err := extensionFilters(c, func(e *ir.EnvoyExtensionFeatures) []ir.ExtProc { return e.ExtProcs },
		func(e *ir.ExtProc) string { return e.Name },
		func(_ *ir.HTTPRoute, e *ir.ExtProc) (*hcmv3.HttpFilter, error) {
			cfg, err := extProcConfig(e)
			if err != nil {
				return nil, fmt.Errorf("ext_proc %s: %w", e.Name, err)
			}
			f, err := disabledFilter(extProcInstanceName(e), cfg)
			if err != nil {
				return nil, err
			}
			return f, nil
		})
	if err != nil {
		return nil, err
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].GetName(), out[j].GetName()
		if ia, ib := extProcIndex(a), extProcIndex(b); ia != ib {
			return ia < ib
		}
		return a < b
	})
	return out, nil
}

// extProcConfig is the ExternalProcessor of one IR entry. The processing
// mode is always written in full: SKIP and NONE unless the policy asks.
func extProcConfig(e *ir.ExtProc) (*extprocv3.ExternalProcessor, error) {
	if e.Name == "" || e.Destination.Name == "" {
		return nil, fmt.Errorf("no name or destination")
	}
	mode := &extprocv3.ProcessingMode{
		RequestHeaderMode:   extprocv3.ProcessingMode_SKIP,
		ResponseHeaderMode:  extprocv3.ProcessingMode_SKIP,
		RequestTrailerMode:  extprocv3.ProcessingMode_SKIP,
		ResponseTrailerMode: extprocv3.ProcessingMode_SKIP,
	}
	if e.RequestHeaderProcessing {
		mode.RequestHeaderMode = extprocv3.ProcessingMode_SEND
	}
	if e.ResponseHeaderProcessing {
		mode.ResponseHeaderMode = extprocv3.ProcessingMode_SEND
	}
	var err error
	if mode.RequestBodyMode, err = extProcBodyMode(e.RequestBodyProcessingMode); err != nil {
		return nil, err
	}
	if mode.ResponseBodyMode, err = extProcBodyMode(e.ResponseBodyProcessingMode); err != nil {
		return nil, err
	}
	// Full duplex streaming carries the trailers with the body.
	if mode.RequestBodyMode == extprocv3.ProcessingMode_FULL_DUPLEX_STREAMED {
		mode.RequestTrailerMode = extprocv3.ProcessingMode_SEND
	}
	if mode.ResponseBodyMode == extprocv3.ProcessingMode_FULL_DUPLEX_STREAMED {
		mode.ResponseTrailerMode = extprocv3.ProcessingMode_SEND
	}
	cfg := &extprocv3.ExternalProcessor{
		GrpcService: &corev3.GrpcService{
			TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{
				ClusterName: e.Destination.Name,
				Authority:   e.Authority,
			}},
			Timeout: durationpb.New(extProcGRPCTimeout),
		},
		ProcessingMode:     mode,
		RequestAttributes:  e.RequestAttributes,
		ResponseAttributes: e.ResponseAttributes,
		AllowModeOverride:  e.AllowModeOverride,
		ObservabilityMode:  e.ShadowMode,
	}
	if e.FailOpen != nil {
		cfg.FailureModeAllow = *e.FailOpen
	}
	if e.MessageTimeout != nil {
		if cfg.MessageTimeout, err = parseDuration(*e.MessageTimeout); err != nil {
			return nil, fmt.Errorf("messageTimeout: %w", err)
		}
	}
	if len(e.ForwardingMetadataNamespaces) > 0 || len(e.ReceivingMetadataNamespaces) > 0 {
		cfg.MetadataOptions = &extprocv3.MetadataOptions{}
		if len(e.ForwardingMetadataNamespaces) > 0 {
			cfg.MetadataOptions.ForwardingNamespaces = &extprocv3.MetadataOptions_MetadataNamespaces{Untyped: e.ForwardingMetadataNamespaces}
		}
		if len(e.ReceivingMetadataNamespaces) > 0 {
			cfg.MetadataOptions.ReceivingNamespaces = &extprocv3.MetadataOptions_MetadataNamespaces{Untyped: e.ReceivingMetadataNamespaces}
		}
	}
	if e.StatusOnError != nil {
		cfg.StatusOnError = &typev3.HttpStatus{Code: typev3.StatusCode(*e.StatusOnError)}
	}
	if err := cfg.ValidateAll(); err != nil {
		return nil, err
	}
	return cfg, nil
}

func extProcBodyMode(m *string) (extprocv3.ProcessingMode_BodySendMode, error) {
	if m == nil {
		return extprocv3.ProcessingMode_NONE, nil
	}
	switch *m {
	case "Streamed":
		return extprocv3.ProcessingMode_STREAMED, nil
	case "Buffered":
		return extprocv3.ProcessingMode_BUFFERED, nil
	case "BufferedPartial":
		return extprocv3.ProcessingMode_BUFFERED_PARTIAL, nil
	case "FullDuplexStreamed":
		return extprocv3.ProcessingMode_FULL_DUPLEX_STREAMED, nil
	}
	return 0, fmt.Errorf("unknown body processing mode %q", *m)
}

// extProcRouteConfig enables the route's processors and adds their
// clusters (through addCluster, which a route Memo replays).
func extProcRouteConfig(c *RouteContext) error {
	if c.IR.EnvoyExtensions == nil {
		return nil
	}
	for i := range c.IR.EnvoyExtensions.ExtProcs {
		e := &c.IR.EnvoyExtensions.ExtProcs[i]
		d := &e.Destination
		if err := addCluster(clusterSpec{name: d.Name, settings: d.Settings, metadata: d.Metadata}, c.Sink); err != nil {
			return fmt.Errorf("ext_proc %s: %w", e.Name, err)
		}
		// As for Lua: no empty `config` Any (see luaRouteConfig).
		if err := c.SetPerFilterConfig(extProcInstanceName(e), &routev3.FilterConfig{}); err != nil {
			return err
		}
	}
	return nil
}
