package kubernetes

import (
	"context"
	"fmt"
	"strings"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8sschema "k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
	"github.com/portico-gw/portico/internal/resource"
)

// NewScheme registers the kinds Portico reads and writes: Kubernetes' own,
// Gateway API v1 and gateway.envoyproxy.io/v1alpha1.
func NewScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, gwapiv1.Install, egv1a1.AddToScheme} {
		if err := add(s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// servedKinds returns the kinds to watch: the core ones, and every other
// kind whose group/version the API server serves and RBAC lets this
// identity list and watch. The rest are returned as problems that say why,
// so that a cluster without an optional CRD (or with a narrower Role) runs
// with the kinds it has instead of waiting forever for an informer.
func (p *Provider) servedKinds(ctx context.Context, cs kubernetes.Interface, all []kind) ([]kind, resource.Problems, error) {
	served := map[k8sschema.GroupVersion]map[string]metav1.APIResource{}
	resourcesOf := func(gv k8sschema.GroupVersion) (map[string]metav1.APIResource, error) {
		if m, ok := served[gv]; ok {
			return m, nil
		}
		m := map[string]metav1.APIResource{}
		list, err := cs.Discovery().ServerResourcesForGroupVersion(gv.String())
		switch {
		case apierrors.IsNotFound(err) || discovery.IsGroupDiscoveryFailedError(err):
		case err != nil:
			return nil, fmt.Errorf("discovering %s: %w", gv, err)
		default:
			for _, r := range list.APIResources {
				if !strings.Contains(r.Name, "/") { // not a subresource
					m[r.Kind] = r
				}
			}
		}
		served[gv] = m
		return m, nil
	}
	var kinds []kind
	var probs resource.Problems
	skip := func(k kind, msg string) {
		probs = append(probs, resource.Problem{File: "cluster", Kind: k.gvk.Kind, Message: msg})
	}
	for _, k := range all {
		res, err := resourcesOf(k.gvk.GroupVersion())
		if err != nil {
			return nil, nil, err
		}
		r, ok := res[k.gvk.Kind]
		if !ok {
			if k.required {
				return nil, nil, fmt.Errorf("the API server does not serve %s", k.gvk)
			}
			skip(k, fmt.Sprintf("%s is not served (its CustomResourceDefinition is not installed); not watched", k.gvk.GroupVersion().WithKind(k.gvk.Kind)))
			continue
		}
		if denied, err := deniedVerbs(ctx, cs, k.gvk.Group, r.Name); err != nil {
			return nil, nil, err
		} else if denied != "" {
			res := r.Name
			if k.gvk.Group != "" {
				res += "." + k.gvk.Group
			}
			skip(k, fmt.Sprintf("RBAC does not allow %s of %s; not watched", denied, res))
			continue
		}
		kinds = append(kinds, k)
	}
	return kinds, probs, nil
}

// allKinds are the kinds the provider would watch in a cluster serving
// and allowing all of them.
func (p *Provider) allKinds() []kind {
	all := watchedKinds()
	for _, gvk := range p.opts.ExtensionKinds {
		all = append(all, extensionKind(gvk))
	}
	return all
}

// watch starts (or joins) the informer of a kind and keeps its objects.
func (p *Provider) watch(ctx context.Context, k kind) error {
	inf, err := p.mgr.GetCache().GetInformer(ctx, k.newObj(), cache.BlockUntilSynced(false))
	if err != nil {
		return fmt.Errorf("watching %s: %w", k.gvk.Kind, err)
	}
	p.mu.Lock()
	p.kinds = append(p.kinds, k)
	p.objs = append(p.objs, map[string]client.Object{})
	i := len(p.kinds) - 1
	p.mu.Unlock()
	if _, err := inf.AddEventHandler(p.handler(i)); err != nil {
		return fmt.Errorf("watching %s: %w", k.gvk.Kind, err)
	}
	return nil
}

// rediscover looks again, every Rediscover, for the kinds not watched: a
// CRD installed (or a Role widened) after the start is watched from then
// on, its problem dropped, and a load follows. It ends when every kind is
// watched or ctx ends.
func (p *Provider) rediscover(ctx context.Context, cs kubernetes.Interface) {
	tick := time.NewTicker(p.opts.Rediscover)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.done:
			return
		case <-tick.C:
		}
		var missing []kind
		for _, k := range p.allKinds() {
			if !p.Watching(k.gvk) {
				missing = append(missing, k)
			}
		}
		found, problems, err := p.servedKinds(ctx, cs, missing)
		if err != nil {
			if ctx.Err() == nil {
				p.log.Warn("looking for the kinds not watched", "err", err)
			}
			continue
		}
		for _, k := range found {
			if err := p.watch(ctx, k); err != nil {
				p.log.Error("kind served but not watched", "kind", k.gvk.String(), "err", err)
				problems = append(problems, resource.Problem{File: "cluster", Kind: k.gvk.Kind, Message: err.Error()})
				continue
			}
			p.log.Info("kind now served: watched", "kind", k.gvk.String())
		}
		p.mu.Lock()
		p.problems = problems
		p.mu.Unlock()
		if len(found) > 0 {
			p.markDirty()
		}
		if len(problems) == 0 {
			return
		}
	}
}

// deniedVerbs names the verbs of list and watch this identity may not use
// on a resource, cluster-wide ("" when both are allowed).
func deniedVerbs(ctx context.Context, cs kubernetes.Interface, group, resourceName string) (string, error) {
	var denied string
	for _, verb := range []string{"list", "watch"} {
		review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
			ResourceAttributes: &authorizationv1.ResourceAttributes{Group: group, Resource: resourceName, Verb: verb},
		}}
		out, err := cs.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
		if err != nil {
			return "", fmt.Errorf("checking access to %s: %w", resourceName, err)
		}
		if !out.Status.Allowed {
			if denied != "" {
				denied += " and "
			}
			denied += verb
		}
	}
	return denied, nil
}
