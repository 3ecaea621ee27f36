package route

import (
	"fmt"
	"math/rand/v2"
	"net"
	"strings"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"

	"github.com/portico-gw/portico/internal/proxy/xdsconf"
)

// Request mirroring (RouteAction.request_mirror_policies), with Envoy's
// observable behaviour:
//   - the copy goes to the mirror cluster fire-and-forget: the primary
//     response never waits for it and the mirror's answer is discarded;
//   - the copy carries the request as sent upstream (after header
//     mutations and host rewrites), with "-shadow" appended to the host
//     part of the authority unless disable_shadow_host_suffix_append;
//   - the copy carries the body only when it fits the buffer limit; a larger
//     body abandons the mirror (Envoy counts retry_or_shadow_abandoned)
//     rather than holding up or failing the primary;
//   - runtime_fraction's default_value samples the share of requests that
//     are mirrored (runtime keys are ignored: there is no runtime here);
//   - the mirror's circuit breakers bound the copies in flight, and the
//     route's timeout bounds each one.

// MirrorPolicy is one compiled request_mirror_policies entry.
type MirrorPolicy struct {
	Cluster       string
	ClusterHeader string // lower-case; the mirror cluster is named by this request header
	numerator     uint64
	denominator   uint64 // 0: every request
	KeepHost      bool   // disable_shadow_host_suffix_append
}

func compileMirrors(ps []*routev3.RouteAction_RequestMirrorPolicy, clusters map[string]bool) ([]MirrorPolicy, error) {
	var out []MirrorPolicy
	for i, p := range ps {
		// trace_sampled only affects tracing, which the proxy does not do.
		if err := xdsconf.CheckFields(fmt.Sprintf("request_mirror_policies[%d]", i), p, "cluster", "cluster_header",
			"runtime_fraction", "trace_sampled", "disable_shadow_host_suffix_append"); err != nil {
			return nil, err
		}
		m := MirrorPolicy{Cluster: p.GetCluster(), ClusterHeader: strings.ToLower(p.GetClusterHeader()),
			KeepHost: p.GetDisableShadowHostSuffixAppend()}
		if (m.Cluster == "") == (m.ClusterHeader == "") {
			return nil, fmt.Errorf("request_mirror_policies[%d]: exactly one of cluster and cluster_header must be set", i)
		}
		if m.Cluster != "" {
			clusters[m.Cluster] = true
		}
		if rf := p.GetRuntimeFraction(); rf != nil {
			// A runtime fraction without a default value is 0% in Envoy.
			dv := rf.GetDefaultValue()
			m.numerator = uint64(dv.GetNumerator())
			switch dv.GetDenominator() {
			case typev3.FractionalPercent_HUNDRED:
				m.denominator = 100
			case typev3.FractionalPercent_TEN_THOUSAND:
				m.denominator = 10_000
			case typev3.FractionalPercent_MILLION:
				m.denominator = 1_000_000
			default:
				return nil, fmt.Errorf("request_mirror_policies[%d]: unknown denominator %v", i, dv.GetDenominator())
			}
			if m.numerator >= m.denominator {
				m.denominator = 0 // 100% or more: always
			}
		}
		out = append(out, m)
	}
	return out, nil
}

// sampled decides whether this request is mirrored.
func (m *MirrorPolicy) Sampled() bool {
	if m.denominator == 0 {
		return true
	}
	return rand.Uint64N(m.denominator) < m.numerator
}

// ShadowHost appends "-shadow" to the host part of an authority, keeping
// the port parseable ("a:80" -> "a-shadow:80"), as Envoy has done since
// appending after the port broke servers that parse Host.
func ShadowHost(authority string) string {
	if host, port, err := net.SplitHostPort(authority); err == nil {
		if strings.Contains(host, ":") {
			return "[" + host + "-shadow]:" + port
		}
		return host + "-shadow:" + port
	}
	return authority + "-shadow"
}
