package kubernetes_test

import (
	"context"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sschema "k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

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
