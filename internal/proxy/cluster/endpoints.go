package cluster

import (
	"fmt"
	"net"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"

	"github.com/portico-gw/portico/internal/proxy/xdsconf"
)

// epSpec is one usable endpoint of a ClusterLoadAssignment.
type epSpec struct {
	network, addr string
	hostname      string // for auto_host_rewrite
	weight        uint64
	// socketMD is its envoy.transport_socket_match metadata, which picks
	// one of the cluster's transport_socket_matches.
	socketMD map[string]string
}

// Endpoints is a compiled ClusterLoadAssignment: only the endpoints of the
// highest priority (lowest number) that has any healthy endpoint. Locality
// weights are folded away: every endpoint is weighted by its own
// load_balancing_weight (Envoy Gateway puts one locality per backend and
// weights the endpoints), which is documented as a simplification.
type Endpoints struct {
	eps []epSpec
}

func CompileEndpoints(cla *endpointv3.ClusterLoadAssignment, requireIP bool) (*Endpoints, error) {
	if err := xdsconf.CheckFields("cluster load assignment", cla, "cluster_name", "endpoints", "policy"); err != nil {
		return nil, err
	}
	if p := cla.GetPolicy(); p != nil {
		// overprovisioning_factor only shapes priority spill-over, which
		// the proxy does not do (it uses the best priority with hosts).
		if err := xdsconf.CheckFields("cluster load assignment policy", p, "overprovisioning_factor", "endpoint_stale_after", "weighted_priority_health"); err != nil {
			return nil, err
		}
	}
	byPrio := map[uint32][]epSpec{}
	for _, l := range cla.GetEndpoints() {
		if err := xdsconf.CheckFields("locality endpoints", l, "locality", "lb_endpoints", "load_balancing_weight", "priority", "metadata"); err != nil {
			return nil, err
		}
		for _, e := range l.GetLbEndpoints() {
			if err := xdsconf.CheckFields("lb endpoint", e, "endpoint", "health_status", "metadata", "load_balancing_weight"); err != nil {
				return nil, err
			}
			ep := e.GetEndpoint()
			if ep == nil {
				return nil, fmt.Errorf("endpoint without address (named endpoints are not supported)")
			}
			if err := xdsconf.CheckFields("endpoint", ep, "address", "health_check_config", "hostname"); err != nil {
				return nil, err
			}
			network, addr, err := endpointAddr(ep.GetAddress())
			if err != nil {
				return nil, err
			}
			if requireIP && network == "tcp" {
				if h, _, _ := net.SplitHostPort(addr); net.ParseIP(h) == nil {
					return nil, fmt.Errorf("STATIC endpoint %q is not an IP address", addr)
				}
			}
			switch e.GetHealthStatus() {
			case corev3.HealthStatus_UNKNOWN, corev3.HealthStatus_HEALTHY:
			default:
				continue // unhealthy, draining, timeout, degraded: not picked
			}
			w := uint64(1)
			if e.GetLoadBalancingWeight() != nil && e.GetLoadBalancingWeight().GetValue() > 0 {
				w = uint64(e.GetLoadBalancingWeight().GetValue())
			}
			hn := ep.GetHostname()
			if hn == "" && network == "tcp" {
				hn, _, _ = net.SplitHostPort(addr)
			}
			md, err := endpointMatchMetadata(l.GetMetadata(), e.GetMetadata())
			if err != nil {
				return nil, fmt.Errorf("endpoint %s: %v", addr, err)
			}
			byPrio[l.GetPriority()] = append(byPrio[l.GetPriority()], epSpec{network, addr, hn, w, md})
		}
	}
	set := &Endpoints{}
	best := uint32(0)
	first := true
	for p, eps := range byPrio {
		if len(eps) > 0 && (first || p < best) {
			best, first = p, false
			set.eps = eps
		}
	}
	return set, nil
}
