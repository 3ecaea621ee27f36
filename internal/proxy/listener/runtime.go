package listener

import (
	"crypto/tls"

	"github.com/portico-gw/portico/internal/proxy/accesslog"
	"github.com/portico-gw/portico/internal/proxy/cluster"
	"github.com/portico-gw/portico/internal/proxy/hcm"
	"github.com/portico-gw/portico/internal/proxy/route"
	"github.com/portico-gw/portico/internal/proxy/tlsconf"
)

// Link makes the listener's runtime: each chain's HCM with its route
// table (inline, or the RDS configuration named; missing: every request
// 404s), the clusters and the access logger, and each TLS chain's
// server config from the secrets. A chain whose certificate is missing is
// not served, and a problem says so: what Envoy does after its initial
// fetch timeout.
func (l *Config) Link(secrets map[string]*tlsconf.Secret, routes map[string]*route.Table, clusters cluster.Set,
	log *accesslog.Logger) (*Runtime, []string) {
	var problems []string
	link := func(c *chain) (*hcm.Runtime, *tls.Config) {
		var lr *hcm.Runtime
		if c.hcm != nil {
			t := c.hcm.Inline
			if t == nil {
				t = routes[c.hcm.RDSName]
			}
			lr = hcm.NewRuntime(c.hcm, t, clusters, log)
		}
		if c.tls == nil {
			return lr, nil
		}
		tc, err := c.tls.ServerConfig(secrets)
		if err != nil {
			problems = append(problems, "filter chain "+c.name+": "+err.Error())
			return nil, nil
		}
		if c.tcp != nil {
			tc.NextProtos = nil // the bytes after the handshake are not HTTP
		}
		return lr, tc
	}
	rt := &Runtime{cfg: l, clusters: clusters, log: log}
	for _, c := range l.chains {
		lr, tc := link(c)
		rt.chains = append(rt.chains, lr)
		rt.tls = append(rt.tls, tc)
	}
	if l.def != nil {
		rt.def, rt.defTLS = link(l.def)
	}
	return rt, problems
}
