package translator

import (
	"slices"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	previoushostsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/retry/host/previous_hosts/v3"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/portico-gw/portico/internal/ir"
)

type corev3RuntimeFractionalPercent = corev3.RuntimeFractionalPercent

// Envoy Gateway's retry defaults.
const (
	defaultNumRetries = 2
	defaultRetryOn    = "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"
)

// setTraffic applies timeouts and retries. RequestTimeout is the route
// timeout; BackendRequestTimeout is the per-try timeout of a retry policy,
// or the route timeout when there is neither a retry nor a request timeout.
func setTraffic(a *routev3.RouteAction, t *ir.TrafficFeatures) error {
	if t == nil {
		return nil
	}
	var perTry string
	if to := t.Timeout; to != nil {
		if to.RequestTimeout != nil {
			d, err := parseDuration(*to.RequestTimeout)
			if err != nil {
				return err
			}
			a.Timeout = d
		}
		if to.BackendRequestTimeout != nil {
			perTry = *to.BackendRequestTimeout
			if t.Retry == nil && a.Timeout == nil {
				d, err := parseDuration(perTry)
				if err != nil {
					return err
				}
				a.Timeout = d
			}
		}
	}
	if t.Retry != nil {
		p, err := retryPolicy(t.Retry, perTry)
		if err != nil {
			return err
		}
		a.RetryPolicy = p
	}
	return nil
}

func retryPolicy(r *ir.Retry, perTry string) (*routev3.RetryPolicy, error) {
	p := &routev3.RetryPolicy{
		NumRetries: wrapUint32(defaultNumRetries),
		RetryOn:    defaultRetryOn,
		RetryHostPredicate: []*routev3.RetryPolicy_RetryHostPredicate{{
			Name:       "envoy.retry_host_predicates.previous_hosts",
			ConfigType: &routev3.RetryPolicy_RetryHostPredicate_TypedConfig{TypedConfig: mustAny(&previoushostsv3.PreviousHostsPredicate{})},
		}},
		HostSelectionRetryMaxAttempts: 5,
	}
	if r.NumRetries != nil {
		p.NumRetries = wrapUint32(*r.NumRetries)
	}
	if on := r.RetryOn; on != nil {
		triggers := slices.Clone(on.Triggers)
		if len(on.HTTPStatusCodes) > 0 {
			if !slices.Contains(triggers, "retriable-status-codes") {
				triggers = append(triggers, "retriable-status-codes")
			}
			p.RetriableStatusCodes = on.HTTPStatusCodes
		}
		if len(triggers) > 0 {
			p.RetryOn = strings.Join(triggers, ",")
		}
	} else {
		p.RetriableStatusCodes = []uint32{503}
	}
	if pr := r.PerRetry; pr != nil {
		if pr.Timeout != nil {
			perTry = *pr.Timeout
		}
		if b := pr.BackOff; b != nil {
			// Envoy requires a base interval; 25ms is Envoy's own default.
			bo := &routev3.RetryPolicy_RetryBackOff{BaseInterval: durationpb.New(25 * time.Millisecond)}
			if b.BaseInterval != nil {
				d, err := parseDuration(*b.BaseInterval)
				if err != nil {
					return nil, err
				}
				bo.BaseInterval = d
			}
			if b.MaxInterval != nil {
				d, err := parseDuration(*b.MaxInterval)
				if err != nil {
					return nil, err
				}
				bo.MaxInterval = d
			}
			p.RetryBackOff = bo
		}
	}
	if perTry != "" {
		d, err := parseDuration(perTry)
		if err != nil {
			return nil, err
		}
		p.PerTryTimeout = d
	}
	return p, nil
}
