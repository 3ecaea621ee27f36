package kubernetes_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8sschema "k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/portico-gw/portico/internal/kubetest"
	"github.com/portico-gw/portico/internal/provider/kubernetes"
)

// An extension kind whose CRD is not installed is not watched, and every
// update says so; the rest is served.
func TestMissingCRDIsReported(t *testing.T) {
	e := needEnv(t)
	e.Namespace(t, "nocrd")
	p := startProvider(t, "nocrd", kubernetes.Options{LeaderElection: kubernetes.LeaderElection{Disable: true},
		ExtensionKinds: []k8sschema.GroupVersionKind{{Group: "example.io", Version: "v1", Kind: "ListenerContextExample"}}})
	u := p.Load()
	if len(u.Problems) != 1 || !strings.Contains(u.Problems[0].String(),
		"ListenerContextExample: example.io/v1, Kind=ListenerContextExample is not served (its CustomResourceDefinition is not installed); not watched") {
		t.Fatalf("problems = %v", u.Problems)
	}
	if !u.Applied || !p.Watching(k8sschema.GroupVersionKind{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "HTTPRoute"}) {
		t.Fatal("the other kinds are not served")
	}
}

// A Role that does not allow reading Secrets: Secrets are not watched (a
// clear problem) instead of an informer that never syncs.
func TestRBACForbiddenKindIsReported(t *testing.T) {
	e := needEnv(t)
	ctx := context.Background()
	e.Namespace(t, "rbac")
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "portico-no-secrets"}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{"", "discovery.k8s.io", "gateway.networking.k8s.io", "gateway.envoyproxy.io", "coordination.k8s.io"},
			Resources: []string{"namespaces", "services", "endpointslices", "configmaps", "gatewayclasses", "gateways",
				"listenersets", "httproutes", "grpcroutes", "tlsroutes", "tcproutes", "udproutes", "referencegrants",
				"backendtlspolicies", "envoyproxies", "envoypatchpolicies", "envoyextensionpolicies", "securitypolicies",
				"backends", "leases", "events"},
			Verbs: []string{"get", "list", "watch", "create", "update", "patch"}},
	}}
	binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "portico-no-secrets"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role.Name},
		Subjects: []rbacv1.Subject{{Kind: "User", Name: "portico-no-secrets", APIGroup: "rbac.authorization.k8s.io"}}}
	if err := e.Client.Create(ctx, role); err != nil {
		t.Fatal(err)
	}
	if err := e.Client.Create(ctx, binding); err != nil {
		t.Fatal(err)
	}
	user, err := e.AddUser(envtest.User{Name: "portico-no-secrets"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	o := kubernetes.Options{Config: user.Config(), Namespace: "rbac", LeaderElection: kubernetes.LeaderElection{Disable: true}, Logger: quietLogger()}
	p, err := kubernetes.New(o)
	if err != nil {
		t.Fatal(err)
	}
	pctx, cancel := context.WithCancel(ctx)
	defer func() { cancel(); <-p.Done() }()
	if err := p.Start(pctx); err != nil {
		t.Fatal(err)
	}
	u := p.Load()
	if len(u.Problems) != 1 || !strings.Contains(u.Problems[0].String(), "Secret: RBAC does not allow list and watch of secrets; not watched") {
		t.Fatalf("problems = %v", u.Problems)
	}
}

// A CRD installed after the start is found by the periodic discovery: its
// kind is watched without a restart, its objects reach the loads, and its
// problem goes.
func TestCRDInstalledLaterIsWatched(t *testing.T) {
	e := needEnv(t)
	ctx := context.Background()
	e.Namespace(t, "latecrd")
	gvk := k8sschema.GroupVersionKind{Group: "late.example.io", Version: "v1", Kind: "Gizmo"}
	p := startProvider(t, "latecrd", kubernetes.Options{LeaderElection: kubernetes.LeaderElection{Disable: true},
		ExtensionKinds: []k8sschema.GroupVersionKind{gvk}, Rediscover: 100 * time.Millisecond})
	if u := p.Load(); len(u.Problems) != 1 || !strings.Contains(u.Problems[0].String(), "Gizmo") {
		t.Fatalf("problems = %v", u.Problems)
	}
	crd := &apiextensionsv1.CustomResourceDefinition{ObjectMeta: metav1.ObjectMeta{Name: "gizmos.late.example.io"},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{Group: gvk.Group, Scope: apiextensionsv1.NamespaceScoped,
			Names: apiextensionsv1.CustomResourceDefinitionNames{Plural: "gizmos", Singular: "gizmo", Kind: "Gizmo", ListKind: "GizmoList"},
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{Name: "v1", Served: true, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
					Type: "object", XPreserveUnknownFields: ptr(true)}}}}}}
	if _, err := envtest.InstallCRDs(e.Config, envtest.CRDInstallOptions{CRDs: []*apiextensionsv1.CustomResourceDefinition{crd}}); err != nil {
		t.Fatal(err)
	}
	obj := &unstructured.Unstructured{}
	obj.SetGroupVersionKind(gvk)
	obj.SetNamespace("latecrd")
	obj.SetName("first")
	if err := e.Client.Create(ctx, obj); err != nil {
		t.Fatal(err)
	}
	kubetest.Eventually(t, 20*time.Second, func() error {
		u := p.Load()
		if len(u.Problems) != 0 {
			return fmt.Errorf("problems = %v", u.Problems)
		}
		for _, x := range u.Set.Extra {
			if x.GetKind() == "Gizmo" && x.GetName() == "first" {
				return nil
			}
		}
		return fmt.Errorf("no Gizmo in %d extension objects", len(u.Set.Extra))
	})
	if !p.Watching(gvk) {
		t.Error("Watching(Gizmo) = false")
	}
}

func ptr[T any](v T) *T { return &v }

// The same for a typed kind of a group that was served all along: the
// experimental UDPRoute CRD applied after the start (the cluster's CRD is
// removed for the test and put back after it).
func TestExperimentalCRDInstalledLaterIsWatched(t *testing.T) {
	e := needEnv(t)
	ctx := context.Background()
	e.Namespace(t, "lateudp")
	opts := envtest.CRDInstallOptions{Paths: []string{filepath.Join(kubetest.Root(), "config", "crd", "gateway-api", "gateway.networking.k8s.io_udproutes.yaml")}}
	if err := envtest.UninstallCRDs(e.Config, opts); err != nil {
		t.Fatal(err)
	}
	reinstalled := false
	install := func() {
		if _, err := envtest.InstallCRDs(e.Config, opts); err != nil {
			t.Fatal(err)
		}
		reinstalled = true
	}
	t.Cleanup(func() {
		if !reinstalled {
			install()
		}
	})
	gvk := k8sschema.GroupVersionKind{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "UDPRoute"}
	dc, err := discovery.NewDiscoveryClientForConfig(e.Config)
	if err != nil {
		t.Fatal(err)
	}
	kubetest.Eventually(t, 20*time.Second, func() error {
		// Discovery drops the kind shortly after the CRD goes.
		list, err := dc.ServerResourcesForGroupVersion(gvk.GroupVersion().String())
		if err != nil {
			return err
		}
		for _, r := range list.APIResources {
			if r.Kind == gvk.Kind {
				return fmt.Errorf("UDPRoute still served")
			}
		}
		return nil
	})
	p := startProvider(t, "lateudp", kubernetes.Options{LeaderElection: kubernetes.LeaderElection{Disable: true},
		Rediscover: 100 * time.Millisecond})
	if p.Watching(gvk) {
		t.Fatal("UDPRoute watched before its CRD is installed")
	}
	install()
	route := &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{
		"parentRefs": []any{map[string]any{"name": "gw"}},
		"rules":      []any{map[string]any{"backendRefs": []any{map[string]any{"name": "dns", "port": int64(53)}}}}}}}
	route.SetGroupVersionKind(gvk)
	route.SetNamespace("lateudp")
	route.SetName("dns")
	if err := e.Client.Create(ctx, route); err != nil {
		t.Fatal(err)
	}
	kubetest.Eventually(t, 20*time.Second, func() error {
		u := p.Load()
		for _, r := range u.Set.UDPRoutes {
			if r.Namespace == "lateudp" && r.Name == "dns" {
				if len(u.Problems) != 0 {
					return fmt.Errorf("problems = %v", u.Problems)
				}
				return nil
			}
		}
		return fmt.Errorf("no UDPRoute lateudp/dns in %d", len(u.Set.UDPRoutes))
	})
}
