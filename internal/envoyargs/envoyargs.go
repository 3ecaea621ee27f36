// Package envoyargs reads the command line Envoy Gateway gives Envoy
// (`envoy --service-cluster NS/GW --service-node $(ENVOY_POD_NAME)
// --config-yaml BOOTSTRAP ...`) and the bootstrap it carries, and says what
// Portico's built-in proxy needs from it: where the xDS server is, which
// certificate, key and CA secure the connection (from the SDS files the
// bootstrap names), and the node's identity. So Portico's image can stand
// in for Envoy's in the pod Envoy Gateway's infrastructure makes.
//
// What the built-in proxy cannot honour is an error that names it, rather
// than a proxy that quietly runs differently.
package envoyargs

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"sigs.k8s.io/yaml"

	// The bootstrap's typed configs must be known to decode it.
	_ "github.com/portico-gw/portico/internal/xds/bootstrap"
)

// Command is Envoy's command line, as far as Envoy Gateway uses it.
type Command struct {
	// ServiceCluster (--service-cluster) names the fleet: node.cluster.
	ServiceCluster string
	// ServiceNode (--service-node) is node.id.
	ServiceNode string
	// LogLevel (-l, --log-level): trace, debug, info, warning/warn, error,
	// critical, off.
	LogLevel string
	// DrainTime (--drain-time-s) bounds the drain of a stopping proxy.
	DrainTime time.Duration
	// Concurrency (--concurrency) is the worker count (0: unset).
	Concurrency int
	// Bootstrap is --config-yaml, or the file of -c/--config-path (both:
	// the YAML merged over the file, as Envoy does).
	Bootstrap *bootstrapv3.Bootstrap
}

// Flags Envoy takes that change nothing for the built-in proxy: hot
// restart, thread pinning and drain shape are Envoy process details.
var ignoredFlags = map[string]bool{
	"--cpuset-threads": false, "--drain-strategy": true, "--component-log-level": true, "--base-id": true,
	"--use-dynamic-base-id": false, "--disable-hot-restart": false, "--parent-shutdown-time-s": true,
	"--log-format": true, "--service-zone": true, "--restart-epoch": true,
}

// Parse reads Envoy's arguments (without the program name).
func Parse(args []string) (*Command, error) {
	c := &Command{LogLevel: "info"}
	var yamlText, path string
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, value, hasValue := strings.Cut(a, "=")
		if !strings.HasPrefix(name, "-") {
			return nil, fmt.Errorf("unexpected argument %q", a)
		}
		takes := map[string]bool{"--service-cluster": true, "--service-node": true, "--config-yaml": true, "-c": true,
			"--config-path": true, "-l": true, "--log-level": true, "--drain-time-s": true, "--concurrency": true}
		needsValue, known := takes[name]
		if !known {
			needsValue, known = ignoredFlags[name]
		}
		if !known {
			return nil, fmt.Errorf("envoy flag %s is not supported by Portico's proxy", name)
		}
		if needsValue && !hasValue {
			if i+1 >= len(args) {
				return nil, fmt.Errorf("flag %s needs a value", name)
			}
			i++
			value = args[i]
		}
		switch name {
		case "--service-cluster":
			c.ServiceCluster = value
		case "--service-node":
			c.ServiceNode = value
		case "--config-yaml":
			yamlText = value
		case "-c", "--config-path":
			path = value
		case "-l", "--log-level":
			c.LogLevel = value
		case "--drain-time-s":
			n, err := strconv.Atoi(value)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("--drain-time-s %q: not a number of seconds", value)
			}
			c.DrainTime = time.Duration(n) * time.Second
		case "--concurrency":
			n, err := strconv.Atoi(value)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("--concurrency %q: not a count", value)
			}
			c.Concurrency = n
		}
	}
	if yamlText == "" && path == "" {
		return nil, errors.New("no bootstrap: give --config-yaml or -c FILE")
	}
	b := &bootstrapv3.Bootstrap{}
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		if err := decode(data, b); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	if yamlText != "" {
		over := &bootstrapv3.Bootstrap{}
		if err := decode([]byte(yamlText), over); err != nil {
			return nil, fmt.Errorf("--config-yaml: %w", err)
		}
		mergeBootstrap(b, over)
	}
	c.Bootstrap = b
	return c, nil
}

func decode(data []byte, b *bootstrapv3.Bootstrap) error {
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return err
	}
	return protojson.Unmarshal(js, b)
}

// mergeBootstrap merges over into b as protobuf's Merge does (Envoy merges
// --config-yaml over the file the same way).
func mergeBootstrap(b, over *bootstrapv3.Bootstrap) { proto.Merge(b, over) }

// SlogLevel maps Envoy's level names onto slog's.
func (c *Command) SlogLevel() string {
	switch c.LogLevel {
	case "trace", "debug":
		return "debug"
	case "warning", "warn":
		return "warn"
	case "error", "critical", "off":
		return "error"
	}
	return "info"
}

// XDS is how the bootstrap reaches its xDS server.
type XDS struct {
	// Address is host:port of the ADS cluster's endpoint.
	Address string
	// TLS is nil for plaintext.
	TLS *TLSFiles
}

// TLSFiles are the files of the xDS connection's mutual TLS.
type TLSFiles struct {
	CertFile, KeyFile, CAFile string
	// ServerNames are the names the server certificate must have (the
	// validation context's exact SAN matchers), none: any the CA signed.
	ServerNames []string
}

// XDSOf finds the ADS cluster of the bootstrap and its TLS files.
func XDSOf(b *bootstrapv3.Bootstrap) (*XDS, error) {
	ads := b.GetDynamicResources().GetAdsConfig()
	if ads == nil || len(ads.GetGrpcServices()) != 1 || ads.GetGrpcServices()[0].GetEnvoyGrpc() == nil {
		return nil, errors.New("bootstrap: dynamic_resources.ads_config must name one envoy_grpc cluster")
	}
	name := ads.GetGrpcServices()[0].GetEnvoyGrpc().GetClusterName()
	var cl *clusterv3.Cluster
	for _, c := range b.GetStaticResources().GetClusters() {
		if c.GetName() == name {
			cl = c
		}
	}
	if cl == nil {
		return nil, fmt.Errorf("bootstrap: the ADS cluster %q is not a static cluster", name)
	}
	eps := cl.GetLoadAssignment().GetEndpoints()
	if len(eps) != 1 || len(eps[0].GetLbEndpoints()) != 1 {
		return nil, fmt.Errorf("bootstrap: cluster %q must have one endpoint", name)
	}
	sa := eps[0].GetLbEndpoints()[0].GetEndpoint().GetAddress().GetSocketAddress()
	if sa == nil || sa.GetPortValue() == 0 {
		return nil, fmt.Errorf("bootstrap: cluster %q's endpoint is not a host and port", name)
	}
	host := strings.TrimSuffix(sa.GetAddress(), ".")
	x := &XDS{Address: joinHostPort(host, sa.GetPortValue())}
	ts := cl.GetTransportSocket()
	if ts == nil {
		return x, nil
	}
	var up tlsv3.UpstreamTlsContext
	if ts.GetTypedConfig() == nil || ts.GetTypedConfig().UnmarshalTo(&up) != nil {
		return nil, fmt.Errorf("bootstrap: cluster %q: only an UpstreamTlsContext transport socket is supported", name)
	}
	files, err := tlsFiles(up.GetCommonTlsContext())
	if err != nil {
		return nil, fmt.Errorf("bootstrap: cluster %q: %w", name, err)
	}
	x.TLS = files
	return x, nil
}

func joinHostPort(host string, port uint32) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]:" + strconv.Itoa(int(port))
	}
	return host + ":" + strconv.Itoa(int(port))
}

// tlsFiles resolves the certificate and validation context, inline or
// through SDS files (path_config_source or the deprecated path).
func tlsFiles(ctx *tlsv3.CommonTlsContext) (*TLSFiles, error) {
	f := &TLSFiles{}
	var cert *tlsv3.TlsCertificate
	switch {
	case len(ctx.GetTlsCertificates()) == 1:
		cert = ctx.GetTlsCertificates()[0]
	case len(ctx.GetTlsCertificateSdsSecretConfigs()) == 1:
		s, err := sdsSecret(ctx.GetTlsCertificateSdsSecretConfigs()[0])
		if err != nil {
			return nil, err
		}
		cert = s.GetTlsCertificate()
	default:
		return nil, errors.New("one client certificate is needed")
	}
	f.CertFile, f.KeyFile = cert.GetCertificateChain().GetFilename(), cert.GetPrivateKey().GetFilename()
	if f.CertFile == "" || f.KeyFile == "" {
		return nil, errors.New("the client certificate and key must be files")
	}
	var vc *tlsv3.CertificateValidationContext
	switch v := ctx.GetValidationContextType().(type) {
	case *tlsv3.CommonTlsContext_ValidationContext:
		vc = v.ValidationContext
	case *tlsv3.CommonTlsContext_ValidationContextSdsSecretConfig:
		s, err := sdsSecret(v.ValidationContextSdsSecretConfig)
		if err != nil {
			return nil, err
		}
		vc = s.GetValidationContext()
	default:
		return nil, errors.New("a validation context (the control plane's CA) is needed")
	}
	f.CAFile = vc.GetTrustedCa().GetFilename()
	if f.CAFile == "" {
		return nil, errors.New("the trusted CA must be a file")
	}
	for _, m := range vc.GetMatchTypedSubjectAltNames() {
		if m.GetSanType() != tlsv3.SubjectAltNameMatcher_DNS || m.GetMatcher().GetExact() == "" {
			return nil, errors.New("only exact DNS subject alt name matchers are supported")
		}
		f.ServerNames = append(f.ServerNames, m.GetMatcher().GetExact())
	}
	return f, nil
}

// sdsSecret reads the one Secret of a file-based SDS config (a
// DiscoveryResponse in JSON or YAML, as Envoy reads it).
func sdsSecret(c *tlsv3.SdsSecretConfig) (*tlsv3.Secret, error) {
	src := c.GetSdsConfig()
	path := src.GetPathConfigSource().GetPath()
	if path == "" {
		path = src.GetPath() //nolint:staticcheck // Envoy still reads the deprecated field
	}
	if path == "" {
		return nil, fmt.Errorf("SDS secret %q: only file sources are supported", c.GetName())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("SDS secret %q: %w", c.GetName(), err)
	}
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, fmt.Errorf("SDS file %s: %w", path, err)
	}
	var resp discoveryv3.DiscoveryResponse
	if err := protojson.Unmarshal(js, &resp); err != nil {
		return nil, fmt.Errorf("SDS file %s: %w", path, err)
	}
	for _, r := range resp.GetResources() {
		var s tlsv3.Secret
		if err := r.UnmarshalTo(&s); err != nil {
			return nil, fmt.Errorf("SDS file %s: %w", path, err)
		}
		if s.GetName() == c.GetName() || len(resp.GetResources()) == 1 {
			return &s, nil
		}
	}
	return nil, fmt.Errorf("SDS file %s has no secret %q", path, c.GetName())
}

// Node is the xDS node the proxy presents.
func (c *Command) Node() *corev3.Node {
	n := &corev3.Node{Id: c.ServiceNode, Cluster: c.ServiceCluster}
	if bn := c.Bootstrap.GetNode(); bn != nil {
		if n.Id == "" {
			n.Id = bn.GetId()
		}
		if n.Cluster == "" {
			n.Cluster = bn.GetCluster()
		}
	}
	return n
}
