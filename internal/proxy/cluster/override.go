package cluster

import "time"

// PickOverride is Envoy's upstream override host: the cluster's host at
// addr ("ip:port") when it is one of the cluster's hosts now and is not
// ejected by outlier detection, else nil (the caller then balances as
// usual). Endpoints EDS reports unhealthy, draining or degraded are not
// hosts (see Endpoints), so a session pinned to one moves on, as in Envoy.
func (c *Cluster) PickOverride(addr string) *Host {
	if addr == "" {
		return nil
	}
	for _, h := range c.liveHosts() {
		if h.addr != addr {
			continue
		}
		if c.cfg.outlier != nil && h.ejected(time.Now().UnixNano()) {
			return nil
		}
		return h
	}
	return nil
}
