package host

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/portico-gw/portico/internal/certs"
	"github.com/portico-gw/portico/internal/freeport"
	"github.com/portico-gw/portico/internal/xds/bootstrap"
)

// writeBootstrap writes the Envoy bootstrap of a fleet as JSON (Envoy picks
// the format from the extension), with the xDS client's TLS read from SDS
// files as Envoy Gateway's bootstrap does: <runtime>/sds/xds-certificate.json
// and xds-trusted-ca.json, pointing at the proxy bundle of CertsDir. Admin
// and stats get free loopback ports: Envoy Gateway's fixed 19000/19001
// would clash with Portico's admin and with each other when a host runs
// several fleets.
func (i *Infra) writeBootstrap(fleet string) (*bootstrapv3.Bootstrap, string, error) {
	host, portStr, err := net.SplitHostPort(i.opts.XDSAddress)
	if err != nil {
		return nil, "", err
	}
	port, err := strconv.ParseUint(portStr, 10, 32)
	if err != nil {
		return nil, "", err
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	admin, err := freePort()
	if err != nil {
		return nil, "", err
	}
	stats, err := freePort()
	if err != nil {
		return nil, "", err
	}
	tlsFiles, err := i.writeSDSFiles()
	if err != nil {
		return nil, "", err
	}
	o := bootstrap.EnvoyGatewayDefaults()
	o.XDSHost, o.XDSPort, o.XDSTLS = host, uint32(port), tlsFiles
	o.AdminAddress, o.AdminPort = "127.0.0.1", admin
	o.StatsAddress, o.StatsPort = "127.0.0.1", stats
	bs := bootstrap.Build(o)
	// The node names the fleet; the locality placeholder is for pods.
	bs.Node = &corev3.Node{Id: NodeID(fleet, "envoy"), Cluster: fleet}
	b, err := protojson.MarshalOptions{Indent: "  ", UseProtoNames: true}.Marshal(bs)
	if err != nil {
		return nil, "", err
	}
	path := filepath.Join(i.opts.RuntimeDir, "envoy-"+sanitize(fleet)+".json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return nil, "", err
	}
	return bs, path, nil
}

// writeSDSFiles writes the two SDS files every Envoy of this host shares.
func (i *Infra) writeSDSFiles() (*bootstrap.TLSFiles, error) {
	dir := filepath.Join(i.opts.RuntimeDir, "sds")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	certDir, err := filepath.Abs(filepath.Join(i.opts.CertsDir, certs.Proxy))
	if err != nil {
		return nil, err
	}
	files, err := bootstrap.BuildSDSFiles(certDir, certs.ControlPlane)
	if err != nil {
		return nil, err
	}
	out := &bootstrap.TLSFiles{
		CertificatePath: filepath.Join(dir, bootstrap.SDSCertificateFile),
		TrustedCAPath:   filepath.Join(dir, bootstrap.SDSTrustedCAFile),
	}
	if err := os.WriteFile(out.CertificatePath, files.Certificate, 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(out.TrustedCAPath, files.TrustedCA, 0o600); err != nil {
		return nil, err
	}
	return out, nil
}

// envoyCommand is an envoy for fleet with its bootstrap.
func (i *Infra) envoyCommand(fleet, bootstrapPath string) *exec.Cmd {
	cmd := exec.Command(i.envoy, "-c", bootstrapPath, "--use-dynamic-base-id", "--log-level", "info",
		"--service-cluster", fleet, "--service-node", NodeID(fleet, "envoy"))
	cmd.Stdout, cmd.Stderr = os.Stdout, i.opts.ProxyStderr
	return cmd
}

func freePort() (uint32, error) {
	p, err := freeport.Get()
	return uint32(p), err
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' {
			return r
		}
		return '_'
	}, s)
}
