package kubernetes

import (
	"context"
	"encoding/json"
	"log/slog"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	k8sschema "k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/portico-gw/portico/internal/status"
)

// StatusWorkers is how many status writes are in flight at once: a write
// is a round trip to the API server and etcd, and 1000 routes' statuses
// written one after the other would take seconds.
const StatusWorkers = 16

// StatusWriter writes the statuses the runner publishes to the API server.
// Only the leader writes; a replica that is not leading keeps the latest
// wanted status of each object, so that when it is elected it writes what
// the previous leader may have left unwritten.
//
// An object is written only when its status differs from the cluster's,
// ignoring lastTransitionTime; a condition whose status did not change
// keeps the cluster's transition time. Entries of status.parents and
// status.ancestors that belong to other controllers are kept as they are.
// A conflict re-reads the object from the API server and tries again
// (client-go's DefaultBackoff); an object deleted meanwhile is skipped.
type StatusWriter struct {
	p          *Provider
	controller string
	log        *slog.Logger
	now        func() time.Time

	mu      sync.Mutex
	pending map[string]status.Object
	queued  map[string]uintptr // identity of the status map last queued
	wake    chan struct{}

	writes, unchanged, failed atomic.Int64
}

// NewStatusWriter returns a writer for the provider's cluster; controller
// is the GatewayClass controllerName whose status entries are ours.
func NewStatusWriter(p *Provider, controller string, log *slog.Logger) *StatusWriter {
	if log == nil {
		log = slog.Default()
	}
	return &StatusWriter{p: p, controller: controller, log: log, now: time.Now,
		pending: map[string]status.Object{}, queued: map[string]uintptr{}, wake: make(chan struct{}, 1)}
}

// StatusCounts are the writer's totals, for tests and figures.
type StatusCounts struct{ Writes, Unchanged, Failed int64 }

// Counts returns the totals so far.
func (w *StatusWriter) Counts() StatusCounts {
	return StatusCounts{Writes: w.writes.Load(), Unchanged: w.unchanged.Load(), Failed: w.failed.Load()}
}

// Publish queues the objects whose status may have changed since they were
// last queued. It does not block: the runner calls it on every publication.
func (w *StatusWriter) Publish(items []status.Object) {
	w.mu.Lock()
	n := 0
	for _, it := range items {
		gvk := k8sschema.FromAPIVersionAndKind(it.APIVersion, it.Kind)
		if !w.p.Watching(gvk) {
			continue // not a kind of the cluster's (or not allowed)
		}
		k := it.Key()
		// The status store hands out the same map for an unchanged status.
		id := reflect.ValueOf(it.Status).Pointer()
		if w.queued[k] == id {
			continue
		}
		w.queued[k] = id
		w.pending[k] = it
		n++
	}
	w.mu.Unlock()
	if n > 0 {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

// Run writes queued statuses once this replica leads, until ctx ends.
func (w *StatusWriter) Run(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case <-w.p.Elected():
	}
	w.log.Info("leading: writing status")
	for {
		w.mu.Lock()
		batch := w.pending
		w.pending = map[string]status.Object{}
		w.mu.Unlock()
		if len(batch) > 0 {
			w.writeAll(ctx, batch)
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-w.wake:
		}
	}
}

func (w *StatusWriter) writeAll(ctx context.Context, batch map[string]status.Object) {
	work := make(chan status.Object)
	var wg sync.WaitGroup
	for range min(StatusWorkers, len(batch)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range work {
				if err := w.write(ctx, it); err != nil && ctx.Err() == nil {
					w.failed.Add(1)
					w.log.Error("status not written", "object", it.Key(), "err", err)
				}
			}
		}()
	}
	for _, it := range batch {
		work <- it
	}
	close(work)
	wg.Wait()
}

// write brings one object's status in the cluster to what it wants.
func (w *StatusWriter) write(ctx context.Context, it status.Object) error {
	gvk := k8sschema.FromAPIVersionAndKind(it.APIVersion, it.Kind)
	ns, _ := it.Metadata["namespace"].(string)
	name, _ := it.Metadata["name"].(string)
	nn := types.NamespacedName{Namespace: ns, Name: name}
	want, err := normalize(it.Status)
	if err != nil {
		return err
	}
	obj, err := w.p.scheme.New(gvk)
	if err != nil {
		return err
	}
	cobj := obj.(client.Object)
	// The cache first; an object it does not have yet may be new.
	reader := client.Reader(w.p.Client())
	first := true
	return retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		if err := reader.Get(ctx, nn, cobj); err != nil {
			if apierrors.IsNotFound(err) && first {
				first, reader = false, w.p.APIReader()
				err = reader.Get(ctx, nn, cobj)
			}
			if apierrors.IsNotFound(err) {
				return nil // deleted while being translated
			}
			if err != nil {
				return err
			}
		}
		reader = w.p.APIReader() // a conflict means the cache is behind
		cur, err := runtime.DefaultUnstructuredConverter.ToUnstructured(cobj)
		if err != nil {
			return err
		}
		old, err := normalize(cur["status"])
		if err != nil {
			return err
		}
		next := mergeStatus(want, old, w.controller, w.now().UTC().Format(time.RFC3339))
		if equalIgnoringTimes(next, old) {
			w.unchanged.Add(1)
			return nil
		}
		cur["status"] = next
		u := &unstructured.Unstructured{Object: cur}
		u.SetGroupVersionKind(gvk)
		if err := w.p.Client().Status().Update(ctx, u); err != nil {
			return err
		}
		w.writes.Add(1)
		return nil
	})
}

// normalize turns a status into plain JSON values (float64 numbers), the
// shape both sides of a comparison must have.
func normalize(v any) (any, error) {
	if v == nil {
		return map[string]any{}, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	err = json.Unmarshal(b, &out)
	return out, err
}
