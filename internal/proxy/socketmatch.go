package proxy

import (
	"crypto/tls"
	"fmt"
	"sort"
	"strings"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/structpb"
)

// Transport socket matches let one cluster use TLS toward some endpoints
// and not others: Envoy Gateway emits one match per backend with TLS
// (named <cluster>/tls/<i>) and marks that backend's endpoints with
// metadata envoy.transport_socket_match {name: <cluster>/tls/<i>}. As in
// Envoy, an endpoint uses the first match whose fields all equal fields of
// its metadata (locality metadata merged under the endpoint's), and the
// cluster's transport_socket when none matches. Only string values are
// compared; a match on anything else is NACKed rather than guessed at.

const transportSocketMatchKey = "envoy.transport_socket_match"

// socketMatch is one compiled transport_socket_matches entry.
type socketMatch struct {
	name  string
	match map[string]string
	spec  *tlsSpec    // nil: plaintext (raw_buffer)
	tls   *tls.Config // set once the spec's secrets are known
}

// defaultSocket is the index of the cluster's own transport_socket.
const defaultSocket = -1

func compileSocketMatches(c *clusterv3.Cluster, proto upstreamProto) ([]socketMatch, []string, error) {
	var out []socketMatch
	var warnings []string
	for i, m := range c.GetTransportSocketMatches() {
		fields, err := stringFields(m.GetMatch())
		if err != nil {
			return nil, nil, fmt.Errorf("transport_socket_matches[%d] %q: match: %v", i, m.GetName(), err)
		}
		sp, w, err := upstreamTLS(m.GetTransportSocket())
		if err != nil {
			return nil, nil, fmt.Errorf("transport_socket_matches[%d] %q: %v", i, m.GetName(), err)
		}
		warnings = append(warnings, w...)
		setALPN(sp, proto)
		sm := socketMatch{name: m.GetName(), match: fields, spec: sp}
		if sp != nil && len(sp.sdsNames()) == 0 {
			if sm.tls, _, err = sp.clientConfig(nil); err != nil {
				return nil, nil, fmt.Errorf("transport_socket_matches[%d] %q: %v", i, m.GetName(), err)
			}
		}
		out = append(out, sm)
	}
	return out, warnings, nil
}

// setALPN offers the protocols the cluster speaks: a TLS server picks h2
// by ALPN.
func setALPN(sp *tlsSpec, proto upstreamProto) {
	if sp == nil {
		return
	}
	switch proto {
	case protoH2:
		sp.alpn = []string{"h2"}
	case protoALPN, protoDownstream:
		sp.alpn = []string{"h2", "http/1.1"}
	}
}

// stringFields flattens a Struct of string values.
func stringFields(s *structpb.Struct) (map[string]string, error) {
	out := map[string]string{}
	for k, v := range s.GetFields() {
		sv, ok := v.GetKind().(*structpb.Value_StringValue)
		if !ok {
			return nil, fmt.Errorf("field %q: only string values are supported", k)
		}
		out[k] = sv.StringValue
	}
	return out, nil
}

// endpointMatchMetadata is the envoy.transport_socket_match metadata of an
// endpoint over its locality's (nil when neither has any).
func endpointMatchMetadata(locality, endpoint *corev3.Metadata) (map[string]string, error) {
	var out map[string]string
	for _, md := range []*corev3.Metadata{locality, endpoint} {
		s := md.GetFilterMetadata()[transportSocketMatchKey]
		if s == nil {
			continue
		}
		fields, err := stringFields(s)
		if err != nil {
			return nil, fmt.Errorf("metadata %s: %v", transportSocketMatchKey, err)
		}
		if out == nil {
			out = map[string]string{}
		}
		for k, v := range fields {
			out[k] = v
		}
	}
	return out, nil
}

// socketFor is the index of the match an endpoint with metadata md uses.
func (cc *clusterCfg) socketFor(md map[string]string) int {
	for i, m := range cc.matches {
		ok := true
		for k, v := range m.match {
			if md[k] != v {
				ok = false
				break
			}
		}
		if ok {
			return i
		}
	}
	return defaultSocket
}

// tlsFor is the client TLS config of a socket (nil: plaintext).
func (cc *clusterCfg) tlsFor(socket int) *tls.Config {
	if socket == defaultSocket {
		return cc.tls
	}
	return cc.matches[socket].tls
}

// matchesKey identifies the matches for connection pool reuse.
func matchesKey(ms []socketMatch) string {
	var b strings.Builder
	for _, m := range ms {
		keys := make([]string, 0, len(m.match))
		for k := range m.match {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteString(m.name)
		for _, k := range keys {
			b.WriteString("|" + k + "=" + m.match[k])
		}
		b.WriteString(";")
	}
	return b.String()
}

// matchSDSNames are the secrets the matches need.
func matchSDSNames(ms []socketMatch) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.spec.sdsNames()...)
	}
	return out
}

// resolveMatches builds the TLS configs of SDS-backed matches; the
// version string changes when a secret does.
func resolveMatches(ms []socketMatch, secrets map[string]*secret) ([]socketMatch, string, error) {
	out := make([]socketMatch, len(ms))
	version := ""
	for i, m := range ms {
		out[i] = m
		if m.spec == nil || len(m.spec.sdsNames()) == 0 {
			continue
		}
		tc, v, err := m.spec.clientConfig(secrets)
		if err != nil {
			return nil, "", fmt.Errorf("transport socket match %q: %v", m.name, err)
		}
		out[i].tls = tc
		version += v
	}
	return out, version, nil
}
