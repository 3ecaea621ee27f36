package proxy

import (
	"fmt"
	"sync/atomic"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// outlierCfg is the part of OutlierDetection the proxy enforces: ejection
// on consecutive 5xx and consecutive gateway failures, with Envoy's
// defaults, ejection time growing with each ejection, max_ejection_percent
// (at least one host may always be ejected) and the panic threshold.
type outlierCfg struct {
	consec5xx, consecGW   int64
	enforce5xx, enforceGW bool
	base, max             time.Duration
	maxPercent            int
	panicPercent          int
}

// pct reads an optional UInt32Value with a default (a typed nil pointer in an
// interface would not compare equal to nil, hence the concrete type).
func pct(v *wrapperspb.UInt32Value, def uint32) uint32 {
	if v == nil {
		return def
	}
	return v.GetValue()
}

func compileOutlier(c *clusterv3.Cluster) (*outlierCfg, []string, error) {
	od := c.GetOutlierDetection()
	if od == nil {
		return nil, nil, nil
	}
	if err := checkFields("cluster "+c.GetName()+" outlier_detection", od, "consecutive_5xx", "interval",
		"base_ejection_time", "max_ejection_percent", "enforcing_consecutive_5xx", "enforcing_success_rate",
		"success_rate_minimum_hosts", "success_rate_request_volume", "success_rate_stdev_factor",
		"consecutive_gateway_failure", "enforcing_consecutive_gateway_failure", "split_external_local_origin_errors",
		"failure_percentage_threshold", "enforcing_failure_percentage", "failure_percentage_minimum_hosts",
		"failure_percentage_request_volume", "max_ejection_time", "max_ejection_time_jitter"); err != nil {
		return nil, nil, err
	}
	if od.GetSplitExternalLocalOriginErrors() {
		return nil, nil, fmt.Errorf("cluster %s: outlier_detection split_external_local_origin_errors is not supported", c.GetName())
	}
	o := &outlierCfg{consec5xx: int64(pct(od.GetConsecutive_5Xx(), 5)), consecGW: int64(pct(od.GetConsecutiveGatewayFailure(), 5)),
		enforce5xx: pct(od.GetEnforcingConsecutive_5Xx(), 100) > 0, enforceGW: pct(od.GetEnforcingConsecutiveGatewayFailure(), 0) > 0,
		base: 30 * time.Second, max: 300 * time.Second, maxPercent: int(pct(od.GetMaxEjectionPercent(), 10)), panicPercent: 50}
	if od.GetBaseEjectionTime() != nil {
		o.base = od.GetBaseEjectionTime().AsDuration()
	}
	if od.GetMaxEjectionTime() != nil {
		o.max = od.GetMaxEjectionTime().AsDuration()
	}
	if p := c.GetCommonLbConfig().GetHealthyPanicThreshold(); p != nil {
		o.panicPercent = int(p.GetValue())
	}
	warn := []string{"cluster " + c.GetName() + ": outlier_detection enforces consecutive 5xx/gateway failures; success-rate and failure-percentage ejection are not implemented"}
	return o, warn, nil
}

// outlierState lives on the host, so it survives config updates.
type outlierState struct {
	consec5xx, consecGW atomic.Int64
	ejections           atomic.Int64
	ejectedUntil        atomic.Int64 // unix nanos
}

func (h *host) ejected(now int64) bool { return h.out.ejectedUntil.Load() > now }

// report records an attempt's outcome for outlier detection. code is the
// upstream status, or 503/504 for local-origin failures (Envoy's mapping
// when local and external errors are not split).
func (c *clusterRT) report(h *host, code int) {
	o := c.cfg.outlier
	if o == nil {
		return
	}
	if code < 500 {
		h.out.consec5xx.Store(0)
		h.out.consecGW.Store(0)
		return
	}
	n5 := h.out.consec5xx.Add(1)
	var ngw int64
	if code == 502 || code == 503 || code == 504 {
		ngw = h.out.consecGW.Add(1)
	} else {
		h.out.consecGW.Store(0)
	}
	if (o.enforce5xx && n5 >= o.consec5xx) || (o.enforceGW && ngw >= o.consecGW) {
		c.eject(h)
	}
}

func (c *clusterRT) eject(h *host) {
	o := c.cfg.outlier
	now := time.Now().UnixNano()
	if h.ejected(now) {
		return
	}
	ejected := 0
	hosts := c.liveHosts()
	for _, x := range hosts {
		if x.ejected(now) {
			ejected++
		}
	}
	if limit := max(1, len(hosts)*o.maxPercent/100); ejected >= limit {
		return
	}
	n := h.out.ejections.Add(1)
	d := o.base * time.Duration(n)
	if d > o.max {
		d = o.max
	}
	h.out.ejectedUntil.Store(now + int64(d))
	h.out.consec5xx.Store(0)
	h.out.consecGW.Store(0)
}

// usable filters ejected hosts out of a pick. When too few hosts are left
// (below the panic threshold) Envoy balances over all of them, and so do we.
func (c *clusterRT) usable(first *host) *host {
	if c.cfg.outlier == nil || first == nil {
		return first
	}
	now := time.Now().UnixNano()
	if !first.ejected(now) {
		return first
	}
	healthy := 0
	for _, h := range c.hosts {
		if !h.ejected(now) {
			healthy++
		}
	}
	if healthy == 0 || healthy*100 < len(c.hosts)*c.cfg.outlier.panicPercent {
		return first
	}
	for i := 0; i < 4*len(c.hosts); i++ {
		if h := c.pickOne(); !h.ejected(now) {
			return h
		}
	}
	return first
}
