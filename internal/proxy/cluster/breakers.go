package cluster

import (
	"fmt"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"

	"github.com/portico-gw/portico/internal/proxy/xdsconf"
)

// breakers are a cluster's circuit breaker thresholds (default priority),
// with Envoy's defaults.
type breakers struct {
	maxRequests    int64 // concurrent requests to the cluster
	maxRetries     int64 // concurrent retries
	maxConnections int   // applied per host (Go pools per host)
}

const bodyOverflow = "upstream connect error or disconnect/reset before headers. reset reason: overflow"

func compileBreakers(name string, cb *clusterv3.CircuitBreakers) (breakers, []string, error) {
	b := breakers{maxRequests: 1024, maxRetries: 3, maxConnections: 1024}
	var warnings []string
	for _, t := range cb.GetThresholds() {
		if err := xdsconf.CheckFields("circuit_breakers threshold", t, "priority", "max_connections", "max_pending_requests",
			"max_requests", "max_retries", "track_remaining"); err != nil {
			return b, nil, fmt.Errorf("cluster %s: %v", name, err)
		}
		if t.GetPriority() != corev3.RoutingPriority_DEFAULT {
			// Routes are never HIGH priority here, so these never apply.
			continue
		}
		if t.MaxRequests != nil {
			b.maxRequests = int64(t.GetMaxRequests().GetValue())
		}
		if t.MaxRetries != nil {
			b.maxRetries = int64(t.GetMaxRetries().GetValue())
		}
		if t.MaxConnections != nil {
			b.maxConnections = int(t.GetMaxConnections().GetValue())
			warnings = append(warnings, "cluster "+name+": circuit_breakers max_connections is applied per host, not per cluster")
		}
		if t.MaxPendingRequests != nil {
			warnings = append(warnings, "cluster "+name+": circuit_breakers max_pending_requests accepted but not enforced")
		}
	}
	if len(cb.GetPerHostThresholds()) > 0 {
		return b, nil, fmt.Errorf("cluster %s: circuit_breakers per_host_thresholds are not supported", name)
	}
	return b, warnings, nil
}

// Acquire takes a request slot; false means overflow (503 UO).
func (c *Cluster) Acquire() bool {
	if c.inflight.Add(1) > c.cfg.breakers.maxRequests {
		c.inflight.Add(-1)
		return false
	}
	return true
}

func (c *Cluster) Release() { c.inflight.Add(-1) }

// AcquireRetry takes a retry slot; without one the retry is not attempted.
func (c *Cluster) AcquireRetry() bool {
	if c.retrying.Add(1) > c.cfg.breakers.maxRetries {
		c.retrying.Add(-1)
		return false
	}
	return true
}

func (c *Cluster) ReleaseRetry() { c.retrying.Add(-1) }
