package kubernetes

import (
	"context"
	"encoding/json"
	"maps"
	"reflect"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The owned-object watch: the leader watches the objects it applies (in
// its namespace, by the managed-by/component labels) so that deleting one
// or editing a field Portico sets is repaired at once, as Envoy Gateway's
// owned-resource watches do. An event only marks the object suspect; sync
// then compares what is in the cluster with what was applied, and applies
// only on a difference: our own applies, status updates and fields other
// managers own cause no write.

// cacheSyncTimeout bounds the wait for the owned-object informers; past it
// the infrastructure applies as before, without repair.
const cacheSyncTimeout = 30 * time.Second

// ownedObjects are empty objects of the kinds Render makes.
func ownedObjects() []client.Object {
	return []client.Object{&corev1.ServiceAccount{}, &corev1.ConfigMap{}, &appsv1.Deployment{}, &appsv1.DaemonSet{},
		&corev1.Service{}, &autoscalingv2.HorizontalPodAutoscaler{}, &policyv1.PodDisruptionBudget{}}
}

// watchOwned starts a cache of the owned objects whose events mark them
// suspect. It returns nil (and logs) when the cache cannot start or sync.
func (i *Infra) watchOwned(ctx context.Context) cache.Cache {
	if i.opts.RestConfig == nil {
		return nil
	}
	c, err := cache.New(i.opts.RestConfig, cache.Options{Scheme: i.opts.Scheme,
		DefaultNamespaces:    map[string]cache.Config{i.opts.Namespace: {}},
		DefaultLabelSelector: labels.SelectorFromSet(ownedSelector()),
		DefaultTransform:     cache.TransformStripManagedFields()})
	if err != nil {
		i.log.Error("proxy objects not watched: deletions and edits are not repaired", "err", err)
		return nil
	}
	for _, obj := range ownedObjects() {
		inf, err := c.GetInformer(ctx, obj, cache.BlockUntilSynced(false))
		if err == nil {
			_, err = inf.AddEventHandler(i.suspectHandler(obj))
		}
		if err != nil {
			i.log.Error("proxy objects not watched: deletions and edits are not repaired", "kind", kindOf(obj), "err", err)
			return nil
		}
	}
	go func() {
		if err := c.Start(ctx); err != nil && ctx.Err() == nil {
			i.log.Error("proxy object watch stopped", "err", err)
		}
	}()
	syncCtx, cancel := context.WithTimeout(ctx, cacheSyncTimeout)
	defer cancel()
	if !c.WaitForCacheSync(syncCtx) {
		if ctx.Err() == nil {
			i.log.Error("proxy objects not watched (the informers did not sync; RBAC?): deletions and edits are not repaired")
		}
		return nil
	}
	return c
}

// suspectHandler marks an object of obj's kind suspect on any event.
func (i *Infra) suspectHandler(obj client.Object) toolscache.ResourceEventHandler {
	kind := kindOf(obj)
	mark := func(o any) {
		if t, ok := o.(toolscache.DeletedFinalStateUnknown); ok {
			o = t.Obj
		}
		co, ok := o.(client.Object)
		if !ok {
			return
		}
		i.mu.Lock()
		i.suspects[kind+"/"+co.GetName()] = true
		i.mu.Unlock()
		signal(i.wake)
	}
	return toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { mark(o) },
		UpdateFunc: func(_, o any) { mark(o) },
		DeleteFunc: mark,
	}
}

// Checked is the resourceVersion of the object (Kind/name) the last time
// it was compared with what was applied ("" never).
func (i *Infra) Checked(id string) string {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.checked[id]
}

// suspectAll marks every desired object suspect.
func (i *Infra) suspectAll() {
	i.mu.Lock()
	defer i.mu.Unlock()
	for _, objs := range i.desired {
		for _, obj := range objs.All() {
			i.suspects[objectID(obj)] = true
		}
	}
}

// takeSuspects returns the objects marked since the last call.
func (i *Infra) takeSuspects() map[string]bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	s := i.suspects
	i.suspects = map[string]bool{}
	return s
}

// drifted reports whether the cluster's copy of obj lacks what applied
// (obj's apply form) sets: it is gone, or a field we set has another value.
func (i *Infra) drifted(ctx context.Context, c cache.Cache, obj client.Object, applied map[string]any) bool {
	i.checks.Add(1)
	live := reflect.New(reflect.TypeOf(obj).Elem()).Interface().(client.Object)
	err := c.Get(ctx, types.NamespacedName{Namespace: obj.GetNamespace(), Name: obj.GetName()}, live)
	if apierrors.IsNotFound(err) {
		return true
	}
	if err != nil {
		return false // the next event asks again
	}
	i.mu.Lock()
	i.checked[objectID(obj)] = live.GetResourceVersion()
	i.mu.Unlock()
	b, err := json.Marshal(live)
	if err != nil {
		return false
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return false
	}
	want := maps.Clone(applied)
	delete(want, "apiVersion") // typed cache objects carry no TypeMeta
	delete(want, "kind")
	return !covers(m, want)
}

// covers reports whether live has every field of want with its value. The
// API server adds defaults and other managers add fields and list items, so
// live may hold more; a zero value in want matches an absent field.
func covers(live, want any) bool {
	switch w := want.(type) {
	case map[string]any:
		l, _ := live.(map[string]any)
		for k, v := range w {
			lv, ok := l[k]
			if !ok {
				if !isZero(v) {
					return false
				}
				continue
			}
			if !covers(lv, v) {
				return false
			}
		}
		return true
	case []any:
		l, _ := live.([]any)
		if len(w) == 0 {
			return true
		}
		if _, maps := w[0].(map[string]any); !maps {
			return reflect.DeepEqual(l, w) // args, command: order and count matter
		}
		// Lists of objects merge by key: each of ours must be there.
		for _, wv := range w {
			found := false
			for _, lv := range l {
				if covers(lv, wv) {
					found = true
					break
				}
			}
			if !found {
				return false
			}
		}
		return true
	default:
		return reflect.DeepEqual(live, want)
	}
}

func isZero(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case map[string]any:
		return len(x) == 0
	case []any:
		return len(x) == 0
	case string:
		return x == ""
	case bool:
		return !x
	case float64:
		return x == 0
	}
	return false
}
