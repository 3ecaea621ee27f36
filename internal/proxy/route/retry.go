package route

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

	"github.com/portico-gw/portico/internal/proxy/xdsconf"
)

// RetryPolicy is a compiled RetryPolicy.
type RetryPolicy struct {
	on map[string]bool
	// NumRetries is how many retries an attempt may get; PerTryTimeout
	// bounds each attempt (0: none).
	NumRetries    int
	PerTryTimeout time.Duration
	codes         map[int]bool
	baseBackoff   time.Duration
	maxBackoff    time.Duration
}

// retryOnKnown are the retry_on conditions the proxy evaluates. Conditions
// about gRPC status or HTTP/3 are rejected rather than ignored.
var retryOnKnown = map[string]bool{
	"5xx": true, "gateway-error": true, "reset": true, "reset-before-request": true, "connect-failure": true,
	"retriable-4xx": true, "refused-stream": true, "retriable-status-codes": true,
	"cancelled": true, "deadline-exceeded": true, "internal": true, "resource-exhausted": true, "unavailable": true,
}

func compileRetry(p *routev3.RetryPolicy) (*RetryPolicy, error) {
	if err := xdsconf.CheckFields("retry_policy", p, "retry_on", "num_retries", "per_try_timeout", "retriable_status_codes",
		"retry_back_off", "host_selection_retry_max_attempts", "retry_host_predicate"); err != nil {
		return nil, err
	}
	rp := &RetryPolicy{on: map[string]bool{}, NumRetries: 1, codes: map[int]bool{}, baseBackoff: 25 * time.Millisecond}
	for _, c := range strings.Split(p.GetRetryOn(), ",") {
		c = strings.TrimSpace(c)
		if c == "" {
			continue
		}
		if !retryOnKnown[c] {
			return nil, fmt.Errorf("retry_on %q is not supported", c)
		}
		rp.on[c] = true
	}
	if p.NumRetries != nil {
		rp.NumRetries = int(p.GetNumRetries().GetValue())
	}
	if p.PerTryTimeout != nil {
		rp.PerTryTimeout = p.GetPerTryTimeout().AsDuration()
	}
	for _, c := range p.GetRetriableStatusCodes() {
		rp.codes[int(c)] = true
	}
	if b := p.GetRetryBackOff(); b != nil {
		rp.baseBackoff = b.GetBaseInterval().AsDuration()
		if b.MaxInterval != nil {
			rp.maxBackoff = b.GetMaxInterval().AsDuration()
		}
	}
	if rp.maxBackoff == 0 {
		rp.maxBackoff = 10 * rp.baseBackoff
	}
	// retry_host_predicate (previous_hosts) only steers host choice; with
	// round robin the next attempt already goes to another host.
	for _, hp := range p.GetRetryHostPredicate() {
		if hp.GetName() != "envoy.retry_host_predicates.previous_hosts" {
			return nil, fmt.Errorf("retry_host_predicate %q is not supported", hp.GetName())
		}
	}
	return rp, nil
}

// retryStatus reports whether an upstream response code warrants a retry.
func (rp *RetryPolicy) RetryStatus(code int, grpcStatus string) bool {
	switch {
	case rp.on["5xx"] && code >= 500:
		return true
	case rp.on["gateway-error"] && (code == 502 || code == 503 || code == 504):
		return true
	case rp.on["retriable-4xx"] && code == 409:
		return true
	case rp.on["retriable-status-codes"] && rp.codes[code]:
		return true
	}
	switch grpcStatus {
	case "1":
		return rp.on["cancelled"]
	case "4":
		return rp.on["deadline-exceeded"]
	case "13":
		return rp.on["internal"]
	case "8":
		return rp.on["resource-exhausted"]
	case "14":
		return rp.on["unavailable"]
	}
	return false
}

// retryFailure reports whether a failure without a response is retried:
// connect failures by connect-failure, any reset by reset or 5xx.
func (rp *RetryPolicy) RetryFailure(connect, timeout bool) bool {
	if timeout {
		// A per-try timeout counts as a 5xx/gateway-error (Envoy: 504).
		return rp.on["5xx"] || rp.on["gateway-error"]
	}
	if connect && (rp.on["connect-failure"] || rp.on["reset-before-request"]) {
		return true
	}
	return rp.on["5xx"] || rp.on["gateway-error"] || rp.on["reset"]
}

// backoff is Envoy's fully jittered exponential back-off.
func (rp *RetryPolicy) Backoff(attempt int) time.Duration {
	d := rp.baseBackoff << uint(attempt-1)
	if d > rp.maxBackoff || d <= 0 {
		d = rp.maxBackoff
	}
	if d <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(d)))
}
