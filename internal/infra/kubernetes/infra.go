// Package kubernetes is the Kubernetes infrastructure: per proxy fleet it
// renders the ServiceAccount, ConfigMap, Deployment (or DaemonSet), Service and optional
// HPA and PDB that Envoy Gateway would (names, labels, bootstrap, EnvoyProxy
// settings and patches), server-side applies them as field owner
// envoy-gateway, and deletes the ones of fleets that went away. Only the
// leader applies. Patch failures are reported in the Gateway's and the
// EnvoyProxy's status (Overlay), and the Gateway's addresses come from its
// Service.
package kubernetes

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"sync/atomic"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
	"github.com/portico-gw/portico/internal/pipeline"
)

// Options configure the infrastructure.
type Options struct {
	// Client applies and deletes; Reader reads the informers' cache
	// (Services); APIReader lists what we own from the API server.
	Client    client.Client
	Reader    client.Reader
	APIReader client.Reader
	// RestConfig and Scheme watch the objects applied, to repair them
	// (nil RestConfig: no repair).
	RestConfig *rest.Config
	Scheme     *runtime.Scheme
	// Namespace is the control plane's: the objects go there.
	Namespace string
	// Config is the EnvoyGateway configuration (its envoyProxy default).
	Config *egv1a1.EnvoyGateway
	// DNSDomain is the cluster's (default cluster.local).
	DNSDomain string
	// Elected is closed once this replica leads.
	Elected <-chan struct{}
	// Logger (nil: slog.Default()).
	Logger *slog.Logger
}

// Infra keeps the cluster's proxy objects in step with the translations.
type Infra struct {
	opts   Options
	log    *slog.Logger
	render RenderOptions

	mu      sync.Mutex
	desired []*Objects
	// applyErrs are the API server's refusals, by fleet key.
	applyErrs map[string]string
	// suspects are objects (Kind/name) the owned-object watch saw change.
	suspects map[string]bool
	// checked is the resourceVersion each object had when last compared.
	checked map[string]string
	wake    chan struct{}
	changed chan struct{}

	writes, checks atomic.Uint64
}

// Counts are the infrastructure's API writes (applies and deletes) and its
// comparisons of watched objects with what it applied.
type Counts struct{ Writes, Checks uint64 }

// Counts returns the counters so far.
func (i *Infra) Counts() Counts { return Counts{Writes: i.writes.Load(), Checks: i.checks.Load()} }

// ControlPlaneHost is the control plane's Service as proxy pods reach it
// (the chart's envoy-gateway Service; "" domain: cluster.local).
func ControlPlaneHost(namespace, domain string) string {
	if domain == "" {
		domain = "cluster.local"
	}
	return fmt.Sprintf("envoy-gateway.%s.svc.%s", namespace, domain)
}

// WasmServicePort is the control plane Service's wasm port (the chart's,
// Envoy Gateway's 18002).
const WasmServicePort = 18002

// ProxyCertsDir is where proxy pods mount the Secret `envoy` (ca.crt,
// tls.crt, tls.key), as Envoy Gateway's pods do.
const ProxyCertsDir = "/certs"

// New returns the infrastructure; it applies nothing until Run.
func New(o Options) *Infra {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.DNSDomain == "" {
		o.DNSDomain = "cluster.local"
	}
	return &Infra{opts: o, log: o.Logger, applyErrs: map[string]string{}, suspects: map[string]bool{}, checked: map[string]string{},
		render: RenderOptions{Namespace: o.Namespace, XDSPort: defaultXDSServicePort,
			XDSHost: ControlPlaneHost(o.Namespace, o.DNSDomain) + "."},
		wake: make(chan struct{}, 1), changed: make(chan struct{}, 1)}
}

// Translated renders every fleet's objects from a translation (the
// runner's hook; it does not block).
func (i *Infra) Translated(res *pipeline.Result) {
	var desired []*Objects
	for _, f := range FleetsOf(res, i.opts.Config) {
		desired = append(desired, Render(f, i.render))
	}
	i.mu.Lock()
	i.desired = desired
	i.mu.Unlock()
	signal(i.wake)
}

// Changed receives when something Overlay reports changed.
func (i *Infra) Changed() <-chan struct{} { return i.changed }

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Desired returns the objects of the latest translation.
func (i *Infra) Desired() []*Objects {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.desired
}

// Run applies the desired objects once this replica leads, until ctx ends.
func (i *Infra) Run(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case <-i.opts.Elected:
	}
	// The first syncs do not wait for the owned-object watch: until it
	// has listed, they work without repair, as with no watch at all.
	watching := make(chan cache.Cache, 1)
	go func() { watching <- i.watchOwned(ctx) }()
	var owned cache.Cache
	applied := map[string][32]byte{} // kind/name -> digest of what was applied
	for {
		select {
		case <-ctx.Done():
			return nil
		case owned = <-watching:
			watching = nil
			if owned == nil {
				continue
			}
			// A deletion or edit made before the watch had listed sent
			// it no event: compare every object once.
			i.suspectAll()
		case <-i.wake:
		}
		i.sync(ctx, i.Desired(), applied, owned)
	}
}

// sync applies what changed since the last apply, or drifted in the
// cluster (owned, nil: not watched), and deletes what is no longer wanted.
func (i *Infra) sync(ctx context.Context, desired []*Objects, applied map[string][32]byte, owned cache.Cache) {
	suspects := i.takeSuspects()
	errs := map[string]string{}
	want := map[string]bool{}
	for _, objs := range desired {
		for _, id := range objs.Held {
			want[id] = true
		}
		for _, obj := range objs.All() {
			id := objectID(obj)
			want[id] = true
			sum, u, err := applyForm(obj)
			if err == nil && applied[id] == sum && (owned == nil || !suspects[id] || !i.drifted(ctx, owned, obj, u.Object)) {
				continue
			}
			if err == nil {
				i.writes.Add(1)
				err = i.opts.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u),
					client.FieldOwner(FieldOwner), client.ForceOwnership)
			}
			if err != nil {
				delete(applied, id)
				if ctx.Err() == nil {
					errs[objs.Key] = joinErr(errs[objs.Key], fmt.Sprintf("applying %s: %v", id, err))
					i.log.Error("proxy object not applied", "fleet", objs.Key, "object", id, "err", err)
				}
				continue
			}
			applied[id] = sum
			i.log.Info("proxy object applied", "fleet", objs.Key, "object", id)
		}
	}
	var lister client.Reader = i.opts.APIReader
	if owned != nil {
		lister = owned // the same objects, without a round trip per sync
	}
	i.collect(ctx, lister, want, applied)
	i.mu.Lock()
	same := maps.Equal(errs, i.applyErrs)
	i.applyErrs = errs
	i.mu.Unlock()
	if !same {
		signal(i.changed)
	}
}

func joinErr(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// ownedKinds are the kinds of the objects Render makes, to collect.
func ownedKinds() []client.ObjectList {
	return []client.ObjectList{&corev1.ServiceAccountList{}, &corev1.ConfigMapList{}, &appsv1.DeploymentList{},
		&appsv1.DaemonSetList{}, &corev1.ServiceList{}, &autoscalingv2.HorizontalPodAutoscalerList{}, &policyv1.PodDisruptionBudgetList{}}
}

// collect deletes our proxy objects that no fleet wants any more.
func (i *Infra) collect(ctx context.Context, lister client.Reader, want map[string]bool, applied map[string][32]byte) {
	for _, list := range ownedKinds() {
		err := lister.List(ctx, list, client.InNamespace(i.opts.Namespace), client.MatchingLabels(ownedSelector()))
		if err != nil {
			if ctx.Err() == nil {
				i.log.Error("listing proxy objects", "err", err)
			}
			continue
		}
		items, _ := metaItems(list)
		for _, obj := range items {
			id := objectID(obj)
			if want[id] {
				continue
			}
			i.writes.Add(1)
			if err := i.opts.Client.Delete(ctx, obj, client.PropagationPolicy("Background")); err != nil && !apierrors.IsNotFound(err) {
				i.log.Error("proxy object not deleted", "object", id, "err", err)
				continue
			}
			delete(applied, id)
			i.log.Info("proxy object deleted", "object", id)
		}
	}
}

func metaItems(list client.ObjectList) ([]client.Object, error) {
	objs, err := apimeta.ExtractList(list)
	if err != nil {
		return nil, err
	}
	out := make([]client.Object, 0, len(objs))
	for _, o := range objs {
		if co, ok := o.(client.Object); ok {
			out = append(out, co)
		}
	}
	return out, nil
}

// objectID names an object by kind and name (all are in one namespace).
func objectID(obj client.Object) string {
	return kindOf(obj) + "/" + obj.GetName()
}

// kindOf is the object's kind: listed objects have no TypeMeta.
func kindOf(obj client.Object) string {
	switch obj.(type) {
	case *corev1.ServiceAccount:
		return "ServiceAccount"
	case *corev1.ConfigMap:
		return "ConfigMap"
	case *appsv1.Deployment:
		return "Deployment"
	case *appsv1.DaemonSet:
		return "DaemonSet"
	case *corev1.Service:
		return "Service"
	case *autoscalingv2.HorizontalPodAutoscaler:
		return "HorizontalPodAutoscaler"
	case *policyv1.PodDisruptionBudget:
		return "PodDisruptionBudget"
	}
	return obj.GetObjectKind().GroupVersionKind().Kind
}

// applyForm is the object as server-side apply takes it (no status, no
// empty creation time) with its digest.
func applyForm(obj client.Object) ([32]byte, *unstructured.Unstructured, error) {
	b, err := json.Marshal(obj)
	if err != nil {
		return [32]byte{}, nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return [32]byte{}, nil, err
	}
	delete(m, "status")
	if md, ok := m["metadata"].(map[string]any); ok {
		delete(md, "creationTimestamp")
	}
	if tpl, ok := dig(m, "spec", "template", "metadata"); ok {
		delete(tpl, "creationTimestamp")
	}
	b, err = json.Marshal(m)
	if err != nil {
		return [32]byte{}, nil, err
	}
	return sha256.Sum256(b), &unstructured.Unstructured{Object: m}, nil
}

func dig(m map[string]any, path ...string) (map[string]any, bool) {
	for _, p := range path {
		next, ok := m[p].(map[string]any)
		if !ok {
			return nil, false
		}
		m = next
	}
	return m, true
}
