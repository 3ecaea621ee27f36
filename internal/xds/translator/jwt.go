package translator

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	jwtv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/jwt_authn/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/portico-gw/portico/internal/ir"
)

const jwtFilterName = "envoy.filters.http.jwt_authn"

// jwt_authn follows Envoy Gateway's layout: one enabled HCM entry holding
// every provider and requirement of the HCM's routes, each route selecting
// its requirement with a PerRouteConfig. Providers and requirements are
// keyed by name plus a hash of their config, so two routes with a provider
// of the same name but different settings get two entries. A route without
// a requirement is not checked.
func init() {
	RegisterHTTPFilter(HTTPFilter{
		Name:     jwtFilterName,
		Rank:     RankJWTAuthn,
		Listener: jwtListenerFilters,
		Route:    jwtRouteConfig,
	})
}

// jwtRouteSettings is what the filter needs from one route's JWT settings.
type jwtRouteSettings struct {
	providers   map[string]*jwtv3.JwtProvider
	requirement *jwtv3.JwtRequirement
	reqName     string
}

func jwtListenerFilters(c *ListenerContext) ([]*hcmv3.HttpFilter, error) {
	cfg := &jwtv3.JwtAuthentication{Providers: map[string]*jwtv3.JwtProvider{}, RequirementMap: map[string]*jwtv3.JwtRequirement{}}
	for _, l := range c.Listeners {
		for _, r := range l.Routes {
			if r == nil || r.Security == nil || r.Security.JWT == nil {
				continue
			}
			rc, err := buildJWT(r.Security.JWT)
			if err != nil {
				return nil, fmt.Errorf("route %s: %v", r.Name, err)
			}
			for k, p := range rc.providers {
				cfg.Providers[k] = p
			}
			cfg.RequirementMap[rc.reqName] = rc.requirement
			for _, p := range r.Security.JWT.Providers {
				if p.RemoteJWKS != nil {
					if err := queueJWKSCluster(p.RemoteJWKS, c.Sink); err != nil {
						return nil, fmt.Errorf("route %s: provider %s: %v", r.Name, p.Name, err)
					}
				}
			}
		}
	}
	if len(cfg.Providers) == 0 {
		return nil, nil
	}
	if err := cfg.ValidateAll(); err != nil {
		return nil, err
	}
	f, err := typedFilter(jwtFilterName, cfg)
	if err != nil {
		return nil, err
	}
	return []*hcmv3.HttpFilter{f}, nil
}

func jwtRouteConfig(c *RouteContext) error {
	if c.IR.Security == nil || c.IR.Security.JWT == nil {
		return nil
	}
	rc, err := buildJWT(c.IR.Security.JWT)
	if err != nil {
		return err
	}
	return c.SetPerFilterConfig(jwtFilterName, &jwtv3.PerRouteConfig{
		RequirementSpecifier: &jwtv3.PerRouteConfig_RequirementName{RequirementName: rc.reqName},
	})
}

// buildJWT makes a route's providers and requirement.
func buildJWT(j *ir.JWT) (*jwtRouteSettings, error) {
	if len(j.Providers) == 0 {
		return nil, fmt.Errorf("jwt without providers")
	}
	out := &jwtRouteSettings{providers: map[string]*jwtv3.JwtProvider{}}
	var reqs []*jwtv3.JwtRequirement
	var names []string
	for i := range j.Providers {
		p, err := jwtProvider(&j.Providers[i])
		if err != nil {
			return nil, err
		}
		key := j.Providers[i].Name + "_" + protoHash(p)
		out.providers[key] = p
		reqs = append(reqs, &jwtv3.JwtRequirement{RequiresType: &jwtv3.JwtRequirement_ProviderName{ProviderName: key}})
		names = append(names, j.Providers[i].Name)
	}
	name := strings.Join(names, "-or-")
	switch {
	case j.AllowMissingOrFailed:
		reqs = append(reqs, &jwtv3.JwtRequirement{RequiresType: &jwtv3.JwtRequirement_AllowMissingOrFailed{AllowMissingOrFailed: &emptypb.Empty{}}})
		name += "-or-missing-or-failed"
	case j.AllowMissing:
		reqs = append(reqs, &jwtv3.JwtRequirement{RequiresType: &jwtv3.JwtRequirement_AllowMissing{AllowMissing: &emptypb.Empty{}}})
		name += "-or-missing"
	}
	if len(reqs) == 1 {
		out.requirement = reqs[0]
	} else {
		out.requirement = &jwtv3.JwtRequirement{RequiresType: &jwtv3.JwtRequirement_RequiresAny{
			RequiresAny: &jwtv3.JwtRequirementOrList{Requirements: reqs}}}
	}
	out.reqName = name + "_" + protoHash(out.requirement)
	return out, nil
}

func jwtProvider(p *ir.JWTProvider) (*jwtv3.JwtProvider, error) {
	out := &jwtv3.JwtProvider{
		Issuer:                     p.Issuer,
		Audiences:                  p.Audiences,
		Forward:                    true,
		PayloadInMetadata:          p.Name,
		NormalizePayloadInMetadata: &jwtv3.JwtProvider_NormalizePayload{SpaceDelimitedClaims: []string{"scope", "scp"}},
	}
	for _, ch := range p.ClaimToHeaders {
		out.ClaimToHeaders = append(out.ClaimToHeaders, &jwtv3.JwtClaimToHeader{HeaderName: ch.Header, ClaimName: ch.Claim})
	}
	if p.RecomputeRoute != nil && *p.RecomputeRoute {
		out.ClearRouteCache = true
	}
	if e := p.ExtractFrom; e != nil {
		for _, h := range e.Headers {
			jh := &jwtv3.JwtHeader{Name: h.Name}
			if h.ValuePrefix != nil {
				jh.ValuePrefix = *h.ValuePrefix
			}
			out.FromHeaders = append(out.FromHeaders, jh)
		}
		out.FromCookies, out.FromParams = e.Cookies, e.Params
	}
	switch {
	case p.LocalJWKS != nil:
		out.JwksSourceSpecifier = &jwtv3.JwtProvider_LocalJwks{LocalJwks: &corev3.DataSource{
			Specifier: &corev3.DataSource_InlineString{InlineString: *p.LocalJWKS}}}
	case p.RemoteJWKS != nil:
		r, err := remoteJWKS(p.RemoteJWKS)
		if err != nil {
			return nil, fmt.Errorf("provider %s: %v", p.Name, err)
		}
		out.JwksSourceSpecifier = &jwtv3.JwtProvider_RemoteJwks{RemoteJwks: r}
	default:
		return nil, fmt.Errorf("provider %s: neither a remote nor a local JWKS", p.Name)
	}
	return out, nil
}

func remoteJWKS(r *ir.RemoteJWKS) (*jwtv3.RemoteJwks, error) {
	cluster, err := jwksClusterName(r)
	if err != nil {
		return nil, err
	}
	out := &jwtv3.RemoteJwks{
		HttpUri: &corev3.HttpUri{Uri: r.URI, HttpUpstreamType: &corev3.HttpUri_Cluster{Cluster: cluster},
			Timeout: durationpb.New(10 * time.Second)},
		AsyncFetch: &jwtv3.JwksAsyncFetch{},
	}
	if r.CacheDuration != nil {
		d, err := time.ParseDuration(*r.CacheDuration)
		if err != nil {
			return nil, fmt.Errorf("cacheDuration %q: %v", *r.CacheDuration, err)
		}
		out.CacheDuration = durationpb.New(d)
	}
	return out, nil
}

// jwksURL splits a JWKS URI into host, port and whether it is https.
func jwksURL(uri string) (host string, port uint32, tls bool, err error) {
	u, err := url.Parse(uri)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", 0, false, fmt.Errorf("remoteJWKS uri %q is not an http(s) URL", uri)
	}
	tls = u.Scheme == "https"
	port = 80
	if tls {
		port = 443
	}
	if p := u.Port(); p != "" {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil {
			return "", 0, false, fmt.Errorf("remoteJWKS uri %q: bad port", uri)
		}
		port = uint32(n)
	}
	return u.Hostname(), port, tls, nil
}

// jwksClusterName is the policy's backend cluster, or Envoy Gateway's
// cluster for the URI's host and port ("localhost_443").
func jwksClusterName(r *ir.RemoteJWKS) (string, error) {
	if r.Destination != nil {
		return r.Destination.Name, nil
	}
	host, port, _, err := jwksURL(r.URI)
	if err != nil {
		return "", err
	}
	return strings.ReplaceAll(host, ".", "_") + "_" + strconv.Itoa(int(port)), nil
}

// queueJWKSCluster queues the cluster a remote JWKS is fetched through.
func queueJWKSCluster(r *ir.RemoteJWKS, s *Sink) error {
	if r.Destination != nil {
		s.addClusterAfterRoutes(clusterSpec{name: r.Destination.Name, settings: r.Destination.Settings, metadata: r.Destination.Metadata})
		return nil
	}
	host, port, tls, err := jwksURL(r.URI)
	if err != nil {
		return err
	}
	name, _ := jwksClusterName(r)
	addrType := "FQDN"
	if net.ParseIP(host) != nil {
		addrType = "IP"
	}
	st := &ir.DestinationSetting{Name: name + "/backend/-1", Protocol: "HTTP", AddressType: &addrType,
		Endpoints: []*ir.DestinationEndpoint{{Host: host, Port: port}}}
	spec := clusterSpec{name: name, settings: []*ir.DestinationSetting{st}}
	if tls {
		spec.systemTLSSNI = host
	}
	s.addClusterAfterRoutes(spec)
	return nil
}

// protoHash is the first 8 bytes of the SHA-256 of a message's
// deterministic encoding, in hex, as Envoy Gateway names providers.
func protoHash(m proto.Message) string {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		panic(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}
