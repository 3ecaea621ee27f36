package kubernetes

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"github.com/portico-gw/portico/internal/xds/bootstrap"
)

// Labels Envoy Gateway puts on every proxy object; the guides select the
// Service by the owning-gateway pair.
const (
	LabelName             = "app.kubernetes.io/name"
	LabelComponent        = "app.kubernetes.io/component"
	LabelManagedBy        = "app.kubernetes.io/managed-by"
	LabelOwningGateway    = "gateway.envoyproxy.io/owning-gateway-name"
	LabelOwningGatewayNS  = "gateway.envoyproxy.io/owning-gateway-namespace"
	LabelOwningClass      = "gateway.envoyproxy.io/owning-gatewayclass"
	managedBy             = "envoy-gateway"
	FieldOwner            = "envoy-gateway"
	proxyContainer        = "envoy"
	shutdownContainer     = "shutdown-manager"
	certsSecret           = "envoy"
	defaultEnvoyImage     = "docker.io/envoyproxy/envoy:distroless-dev"
	defaultShutdownImage  = "docker.io/envoyproxy/gateway-dev:latest"
	drainTimeoutSeconds   = 60
	terminationGraceSecs  = drainTimeoutSeconds + 300
	metricsPort           = 19001
	shutdownManagerPort   = 19002
	readinessPort         = 19003
	privilegedPortShift   = 10000
	sdsTrustedCAFile      = bootstrap.SDSTrustedCAFile
	sdsCertificateFile    = bootstrap.SDSCertificateFile
	xdsServerSAN          = "envoy-gateway"
	defaultXDSServicePort = 18000
)

// ResourceName is Envoy Gateway's name for a fleet's objects:
// envoy-<key with / as ->-<first 8 hex of sha256(key)>, the part before
// the hash cut to 48 characters. The key is "<namespace>/<gateway>", or the
// GatewayClass name when the class merges gateways. For default/eg it is
// envoy-default-eg-e41e7b31.
func ResourceName(key string) string {
	sum := sha256.Sum256([]byte(key))
	body := "envoy-" + strings.ReplaceAll(key, "/", "-")
	if len(body) > 48 {
		body = body[:48]
	}
	body = strings.TrimRight(body, "-")
	return body + "-" + hex.EncodeToString(sum[:])[:8]
}

// fleetLabels are the labels (and the selector) of a fleet's objects.
func fleetLabels(f *Fleet) map[string]string {
	l := map[string]string{
		LabelName:      "envoy",
		LabelComponent: "proxy",
		LabelManagedBy: managedBy,
	}
	if f.Merged {
		l[LabelOwningClass] = f.Class
	} else {
		l[LabelOwningGateway] = f.Gateways[0].Name
		l[LabelOwningGatewayNS] = f.Gateways[0].Namespace
	}
	return l
}

// ownedSelector selects every proxy object this control plane manages.
func ownedSelector() map[string]string {
	return map[string]string{LabelComponent: "proxy", LabelManagedBy: managedBy}
}
