package translate

import (
	"errors"
	"fmt"
	"slices"

	"google.golang.org/protobuf/encoding/protojson"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/yaml"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
	"github.com/portico-gw/portico/internal/gatewayapi"
	"github.com/portico-gw/portico/internal/resource"
	"github.com/portico-gw/portico/internal/xds/bootstrap"
)

// egctl's --add-missing-resources, for input written for a cluster that
// lacks what the cluster would supply. Like egctl it:
//   - gives a Service without a cluster IP the address 1.2.3.4,
//   - adds the Services that routes name and the input lacks (cluster IP
//     1.2.3.4, one port per referenced port, named <PROTOCOL>-<port>), and
//     the missing ports of Services that exist,
//   - fills in an empty GatewayClass controllerName,
//   - adds the EnvoyProxy default-envoy-proxy (in egctl's namespace, with
//     the default bootstrap) as the GatewayClass parameters when the input
//     has no EnvoyProxy.
const (
	dummyClusterIP          = "1.2.3.4"
	defaultEnvoyProxyName   = "default-envoy-proxy"
	defaultEnvoyProxyNSpace = DefaultNamespace
)

// errNoGatewayClass is egctl's error for a default EnvoyProxy with no class.
var errNoGatewayClass = errors.New("--add-missing-resources: the GatewayClass resource is required")

// addMissingResources returns a copy of set with what egctl adds. The
// objects it changes are copies: the loaded set is left alone.
func addMissingResources(set *resource.Set) (*resource.Set, error) {
	out := *set
	out.Services = make([]*corev1.Service, 0, len(set.Services))
	byKey := map[string]*corev1.Service{}
	for _, s := range set.Services {
		if s.Spec.ClusterIP == "" {
			s = s.DeepCopy()
			s.Spec.ClusterIP = dummyClusterIP
		}
		out.Services = append(out.Services, s)
		byKey[s.Namespace+"/"+s.Name] = s
	}
	copied := map[*corev1.Service]bool{}
	for _, ref := range serviceRefs(set) {
		svc := byKey[ref.key]
		if svc == nil {
			svc = &corev1.Service{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
				ObjectMeta: metav1.ObjectMeta{Name: ref.name, Namespace: ref.namespace},
				Spec:       corev1.ServiceSpec{ClusterIP: dummyClusterIP}}
			byKey[ref.key], copied[svc] = svc, true
			out.Services = append(out.Services, svc)
		}
		if hasPort(svc, ref.protocol, ref.port) {
			continue
		}
		if !copied[svc] {
			i := slices.Index(out.Services, svc)
			svc = svc.DeepCopy()
			out.Services[i], byKey[ref.key], copied[svc] = svc, svc, true
		}
		svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{
			Name: fmt.Sprintf("%s-%d", ref.protocol, ref.port), Protocol: ref.protocol, Port: ref.port})
	}
	out.GatewayClasses = make([]*gwapiv1.GatewayClass, len(set.GatewayClasses))
	for i, gc := range set.GatewayClasses {
		if gc.Spec.ControllerName == "" {
			gc = gc.DeepCopy()
			gc.Spec.ControllerName = gatewayapi.DefaultControllerName
		}
		out.GatewayClasses[i] = gc
	}
	if len(set.EnvoyProxies) == 0 {
		if err := addDefaultEnvoyProxy(&out); err != nil {
			return nil, err
		}
	}
	return &out, nil
}

// serviceRef is one route backendRef to a Service, with its port.
type serviceRef struct {
	key, namespace, name string
	protocol             corev1.Protocol
	port                 int32
}

// serviceRefs lists the Service backendRefs of every route kind, in input
// order (UDPRoute ports are UDP, the others TCP).
func serviceRefs(set *resource.Set) []serviceRef {
	var out []serviceRef
	add := func(ns string, br gwapiv1.BackendRef, proto corev1.Protocol) {
		if br.Kind == nil || *br.Kind != "Service" || (br.Group != nil && *br.Group != "") || br.Port == nil {
			return
		}
		if br.Namespace != nil && *br.Namespace != "" {
			ns = string(*br.Namespace)
		}
		out = append(out, serviceRef{key: ns + "/" + string(br.Name), namespace: ns, name: string(br.Name),
			protocol: proto, port: *br.Port})
	}
	for _, r := range set.HTTPRoutes {
		for _, rule := range r.Spec.Rules {
			for _, br := range rule.BackendRefs {
				add(r.Namespace, br.BackendRef, corev1.ProtocolTCP)
			}
		}
	}
	for _, r := range set.GRPCRoutes {
		for _, rule := range r.Spec.Rules {
			for _, br := range rule.BackendRefs {
				add(r.Namespace, br.BackendRef, corev1.ProtocolTCP)
			}
		}
	}
	for _, r := range set.TLSRoutes {
		for _, rule := range r.Spec.Rules {
			for _, br := range rule.BackendRefs {
				add(r.Namespace, br, corev1.ProtocolTCP)
			}
		}
	}
	for _, r := range set.TCPRoutes {
		for _, rule := range r.Spec.Rules {
			for _, br := range rule.BackendRefs {
				add(r.Namespace, br, corev1.ProtocolTCP)
			}
		}
	}
	for _, r := range set.UDPRoutes {
		for _, rule := range r.Spec.Rules {
			for _, br := range rule.BackendRefs {
				add(r.Namespace, br, corev1.ProtocolUDP)
			}
		}
	}
	return out
}

func hasPort(svc *corev1.Service, proto corev1.Protocol, port int32) bool {
	for _, p := range svc.Spec.Ports {
		pp := p.Protocol
		if pp == "" {
			pp = corev1.ProtocolTCP
		}
		if pp == proto && p.Port == port {
			return true
		}
	}
	return false
}

// addDefaultEnvoyProxy adds egctl's default EnvoyProxy, whose bootstrap is
// the default one (so the xDS does not change), as the parameters of the
// GatewayClasses that have none.
func addDefaultEnvoyProxy(set *resource.Set) error {
	if len(set.GatewayClasses) == 0 {
		return errNoGatewayClass
	}
	js, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(bootstrap.Build(bootstrap.EnvoyGatewayDefaults()))
	if err != nil {
		return err
	}
	value, err := yaml.JSONToYAML(js)
	if err != nil {
		return err
	}
	text := string(value)
	ep := &egv1a1.EnvoyProxy{
		TypeMeta:   metav1.TypeMeta{APIVersion: egv1a1.GroupVersion.String(), Kind: egv1a1.KindEnvoyProxy},
		ObjectMeta: metav1.ObjectMeta{Name: defaultEnvoyProxyName, Namespace: defaultEnvoyProxyNSpace},
		Spec:       egv1a1.EnvoyProxySpec{Bootstrap: &egv1a1.ProxyBootstrap{Value: &text}},
	}
	set.EnvoyProxies = []*egv1a1.EnvoyProxy{ep}
	ns := gwapiv1.Namespace(defaultEnvoyProxyNSpace)
	for i, gc := range set.GatewayClasses {
		if gc.Spec.ParametersRef != nil {
			continue
		}
		gc = gc.DeepCopy()
		gc.Spec.ParametersRef = &gwapiv1.ParametersReference{Group: gwapiv1.Group(egv1a1.GroupName),
			Kind: gwapiv1.Kind(egv1a1.KindEnvoyProxy), Name: defaultEnvoyProxyName, Namespace: &ns}
		set.GatewayClasses[i] = gc
	}
	return nil
}
