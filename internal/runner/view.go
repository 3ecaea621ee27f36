package runner

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
	"github.com/portico-gw/portico/internal/gatewayapi"
	"github.com/portico-gw/portico/internal/infra/host"
	"github.com/portico-gw/portico/internal/patch"
	"github.com/portico-gw/portico/internal/status"
	"github.com/portico-gw/portico/internal/status/conditions"
	"github.com/portico-gw/portico/internal/xds/configdump"
	xdsserver "github.com/portico-gw/portico/internal/xds/server"
	"github.com/portico-gw/portico/internal/xds/xdstypes"
)

// view is what the admin server shows; the loop replaces it whole, so
// handlers read it without locks.
type view struct {
	// list is rendered as JSON the first time /status asks for it, not on
	// every publish: most publishes (proxy ACKs, reloads) are never read.
	list       StatusList
	statusOnce sync.Once
	status     []byte
	ready      bool
	readyMsg   string
	dumps      map[string]fleetDump
}

type fleetDump struct {
	version   string
	resources *xdstypes.Resources
}

// StatusList is /status: a Kubernetes List of every object with its status,
// plus what Kubernetes has no place for (input problems, proxies).
type StatusList struct {
	APIVersion string          `json:"apiVersion"`
	Kind       string          `json:"kind"`
	Items      []status.Object `json:"items"`
	Portico    PorticoStatus   `json:"portico"`
}

// PorticoStatus is the runtime's own state.
type PorticoStatus struct {
	Provider ProviderStatus         `json:"provider"`
	Fleets   map[string]FleetStatus `json:"fleets"`
	// Processes are the supervised proxy processes (the builtin data
	// plane's children, or envoys), with their starts and exits.
	Processes []host.Process `json:"processes,omitempty"`
}

// ProviderStatus describes the latest load of the input files.
type ProviderStatus struct {
	Generation int  `json:"generation"`
	Applied    bool `json:"applied"`
	// Error says why the latest load, or its held files, were not applied.
	Error string `json:"error,omitempty"`
	// Held are edited files with problems whose last good version is
	// served while the other files' edits are applied.
	Held     []string `json:"held,omitempty"`
	Problems []string `json:"problems,omitempty"`
}

// FleetStatus is one snapshot key: what is served and who serves it.
type FleetStatus struct {
	Version string `json:"version,omitempty"`
	// Error is why the latest translation was not served.
	Error string `json:"error,omitempty"`
	// LeftOut are IR objects the xDS translator could not express.
	LeftOut []string          `json:"leftOut,omitempty"`
	Proxies []xdsserver.Proxy `json:"proxies"`
}

// publish recomputes Gateway conditions from the proxies' answers, stamps
// and logs statuses, and swaps the admin view.
func (r *Runner) publish() {
	proxies := r.server.Proxies()
	byFleet := map[string][]xdsserver.Proxy{}
	for _, p := range proxies {
		byFleet[p.Fleet] = append(byFleet[p.Fleet], p)
	}
	// Series of fleets without proxies are deleted one by one rather than
	// with Reset, so a scrape never sees the gauge empty mid-update.
	for f := range r.gauged {
		if len(byFleet[f]) == 0 {
			r.metrics.proxies.DeleteLabelValues(f)
			delete(r.gauged, f)
		}
	}
	for f, ps := range byFleet {
		r.metrics.proxies.WithLabelValues(f).Set(float64(len(ps)))
		r.gauged[f] = true
	}

	v := &view{dumps: map[string]fleetDump{}}
	list := StatusList{APIVersion: "v1", Kind: "List", Items: []status.Object{},
		Portico: PorticoStatus{Fleets: map[string]FleetStatus{}}}
	list.Portico.Provider = ProviderStatus{Generation: r.last.Generation, Applied: r.last.Applied, Held: r.last.Held}
	if r.last.Err != nil {
		list.Portico.Provider.Error = r.last.Err.Error()
	}
	for _, p := range r.last.Problems {
		list.Portico.Provider.Problems = append(list.Portico.Provider.Problems, p.String())
	}
	ready, waiting := r.result != nil, []string{}
	for _, key := range slices.Sorted(maps.Keys(r.fleets)) {
		f := r.fleets[key]
		ps := byFleet[key]
		for _, p := range ps {
			if f.version != "" && p.Synced(f.version) {
				f.ready = true
			}
		}
		if !f.ready {
			ready = false
			_, _, msg := programmed(f, ps)
			if f.extFailed {
				msg += r.retryNote()
			}
			waiting = append(waiting, "fleet "+key+": "+msg)
		}
		list.Portico.Fleets[key] = FleetStatus{Version: f.version, Error: f.err, LeftOut: f.xlateErrs, Proxies: orEmpty(ps)}
		v.dumps[key] = fleetDump{version: f.version, resources: f.resources}
	}
	if r.result != nil {
		items, err := r.store.PublishResults(r.objects(byFleet)...)
		if err != nil {
			r.log.Error("status", "err", err)
		}
		list.Items = items
	}
	if r.infra != nil {
		list.Portico.Processes = r.infra.Processes()
	}
	v.ready = ready
	switch {
	case r.result == nil:
		v.readyMsg = "no configuration loaded yet"
	case !ready:
		v.readyMsg = "not ready:\n" + strings.Join(waiting, "\n")
	default:
		v.readyMsg = "ok"
	}
	v.list = list
	r.view.Store(v)
	if r.opts.Hooks.Published != nil && r.result != nil {
		r.opts.Hooks.Published(list.Items)
	}
}

// statusJSON renders v.list once; nothing changes a view after it is stored.
func (v *view) statusJSON() []byte {
	v.statusOnce.Do(func() {
		b, err := json.MarshalIndent(v.list, "", "  ")
		if err != nil {
			b = []byte(fmt.Sprintf(`{"error": %q}`, err.Error()))
		}
		v.status = b
		v.list = StatusList{} // the bytes are all that is needed from now on
	})
	return v.status
}

func orEmpty(ps []xdsserver.Proxy) []xdsserver.Proxy {
	if ps == nil {
		return []xdsserver.Proxy{}
	}
	return ps
}

// objects returns the results holding every object with its status, the runtime's conditions
// included: each Gateway's Accepted (unless translation refused it) and
// Programmed, which reflects what the fleet's proxies accepted. A NACK also
// turns False the Programmed of the Gateway's listeners and of the
// EnvoyPatchPolicies applied to the fleet, with the proxy's own words.
// (Envoy Gateway's Programmed says that patches applied or that a
// Deployment is up; it cannot tell a rejected config from an accepted one.)
// The translation result is copied, never changed.
func (r *Runner) objects(byFleet map[string][]xdsserver.Proxy) []any {
	gwRes := *r.result.Gateway
	gwRes.Gateways = make([]*gwapiv1.Gateway, len(r.result.Gateway.Gateways))
	invalid := map[string]string{}        // fleet -> message
	nacks := map[string]*xdsserver.NACK{} // fleet -> a proxy's rejection
	for i, in := range r.result.Gateway.Gateways {
		gw := in.DeepCopy()
		gwRes.Gateways[i] = gw
		key := fleetOf(r.result.Gateway, gw)
		if key == "" {
			continue // not accepted: translation said why
		}
		gen := gw.Generation
		if conditions.Find(gw.Status.Conditions, string(gwapiv1.GatewayConditionAccepted)) == nil {
			gw.Status.Conditions = conditions.Set(gw.Status.Conditions, metav1.Condition{Type: string(gwapiv1.GatewayConditionAccepted),
				Status: metav1.ConditionTrue, Reason: string(gwapiv1.GatewayReasonAccepted),
				Message: "The Gateway has been scheduled by Portico", ObservedGeneration: gen})
		}
		st, reason, msg := programmed(r.fleets[key], byFleet[key])
		gw.Status.Conditions = conditions.Set(gw.Status.Conditions, metav1.Condition{Type: string(gwapiv1.GatewayConditionProgrammed),
			Status: st, Reason: reason, Message: msg, ObservedGeneration: gen})
		// The guides read the Gateway's address from status.addresses[0];
		// on the host it is where the proxy binds the listeners.
		gw.Status.Addresses = []gwapiv1.GatewayStatusAddress{{
			Type: ptrTo(gwapiv1.IPAddressType), Value: r.gatewayAddress(),
		}}
		if reason == string(gwapiv1.GatewayReasonInvalid) {
			invalid[key] = msg
			nacks[key] = firstNACK(byFleet[key])
			for li := range gw.Status.Listeners {
				falsify(gw.Status.Listeners[li].Conditions, string(gwapiv1.ListenerReasonInvalid), msg)
			}
		}
	}
	policies := make([]*egv1a1.EnvoyPatchPolicy, len(r.result.EnvoyPatchPolicies))
	byName := map[string]*egv1a1.EnvoyPatchPolicy{}
	for i, p := range r.result.EnvoyPatchPolicies {
		policies[i] = p.DeepCopy()
		byName[p.Namespace+"/"+p.Name] = policies[i]
	}
	for key, msg := range invalid {
		if f := r.fleets[key]; f != nil {
			for _, name := range blamed(f.patches, nacks[key]) {
				if p := byName[name]; p != nil {
					for ai := range p.Status.Ancestors {
						falsify(p.Status.Ancestors[ai].Conditions, "Invalid", msg)
					}
				}
			}
		}
	}
	if r.opts.Hooks.Overlay != nil {
		r.opts.Hooks.Overlay(&gwRes, func(gw *gwapiv1.Gateway) string { return fleetOf(r.result.Gateway, gw) })
	}
	// Every object but the Gateways and policies copied above is the
	// translation's own, never changed: the store reuses what it made of
	// them last time.
	return []any{&gwRes, &struct{ EnvoyPatchPolicies []*egv1a1.EnvoyPatchPolicy }{policies}}
}

// appliedPatch is an EnvoyPatchPolicy applied to a fleet and what it changed.
type appliedPatch struct {
	name    string // namespace/name
	touched []patch.Resource
}

// firstNACK returns a proxy's rejection of the fleet's configuration, or nil.
func firstNACK(ps []xdsserver.Proxy) *xdsserver.NACK {
	for _, p := range ps {
		if n := p.Rejected(); n != nil {
			return n
		}
	}
	return nil
}

// blamed returns the policies a fleet's failure is laid on. For a proxy's
// rejection: the policies that changed a resource of the rejected type that
// the proxy names; failing a name, those that changed a resource of that
// type; a policy that changed nothing of that type is not to blame. For a
// failure without a rejection (a configuration that cannot be served), every
// policy applied to the fleet.
func blamed(patches []appliedPatch, n *xdsserver.NACK) []string {
	var all, ofType, named []string
	for _, p := range patches {
		all = append(all, p.name)
		if n == nil {
			continue
		}
		typed, byName := false, false
		for _, t := range p.touched {
			if t.TypeURL != n.TypeURL {
				continue
			}
			typed = true
			byName = byName || mentions(n.Detail, t.Name)
		}
		if typed {
			ofType = append(ofType, p.name)
		}
		if byName {
			named = append(named, p.name)
		}
	}
	switch {
	case n == nil:
		return all
	case len(named) > 0:
		return named
	}
	return ofType
}

// mentions reports whether text names the resource name as a whole word:
// "default/eg/http" is not mentioned by "default/eg/https".
func mentions(text, name string) bool {
	if name == "" {
		return false
	}
	for i := 0; ; {
		j := strings.Index(text[i:], name)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(name)
		if (start == 0 || !nameByte(text[start-1])) && (end == len(text) || !nameByte(text[end])) {
			return true
		}
		i = start + 1
	}
}

func nameByte(b byte) bool {
	return b == '/' || b == '.' || b == '-' || b == '_' ||
		('a' <= b && b <= 'z') || ('A' <= b && b <= 'Z') || ('0' <= b && b <= '9')
}

// falsify turns a True Programmed condition False with reason and message.
func falsify(conds []metav1.Condition, reason, msg string) {
	if c := conditions.Find(conds, "Programmed"); c != nil && c.Status == metav1.ConditionTrue {
		*c = metav1.Condition{Type: c.Type, Status: metav1.ConditionFalse, Reason: reason, Message: msg,
			ObservedGeneration: c.ObservedGeneration}
	}
}

// programmed decides a fleet's Programmed condition from its proxies.
func programmed(f *fleet, ps []xdsserver.Proxy) (metav1.ConditionStatus, string, string) {
	invalid, pending := string(gwapiv1.GatewayReasonInvalid), string(gwapiv1.GatewayReasonPending)
	if f == nil || f.version == "" {
		if f != nil && f.err != "" {
			return metav1.ConditionFalse, invalid, "The configuration cannot be served: " + f.err
		}
		return metav1.ConditionFalse, pending, "No configuration has been served yet"
	}
	for _, p := range ps {
		if n := p.Rejected(); n != nil {
			return metav1.ConditionFalse, invalid, fmt.Sprintf("Proxy %s rejected %s version %s: %s",
				p.NodeID, shortType(n.TypeURL), n.Version, n.Detail)
		}
	}
	if f.err != "" {
		return metav1.ConditionFalse, invalid, fmt.Sprintf("The latest configuration cannot be served (%s); version %s keeps serving", f.err, f.version)
	}
	if len(ps) == 0 {
		return metav1.ConditionFalse, pending, fmt.Sprintf("Waiting for a proxy to connect and serve configuration version %s", f.version)
	}
	synced := 0
	for _, p := range ps {
		if p.Synced(f.version) {
			synced++
		}
	}
	msg := fmt.Sprintf("%d/%d proxies serve configuration version %s", synced, len(ps), f.version)
	if synced == len(ps) {
		return metav1.ConditionTrue, string(gwapiv1.GatewayReasonProgrammed), msg
	}
	return metav1.ConditionFalse, pending, msg
}

// fleetOf is the snapshot key of a Gateway: its own, or its class's when
// the class merges gateways ("" when the Gateway has no IR).
func fleetOf(res *gatewayapi.Result, gw *gwapiv1.Gateway) string {
	if _, ok := res.XdsIR[gw.Namespace+"/"+gw.Name]; ok {
		return gw.Namespace + "/" + gw.Name
	}
	if _, ok := res.XdsIR[string(gw.Spec.GatewayClassName)]; ok {
		return string(gw.Spec.GatewayClassName)
	}
	return ""
}

// Status implements admin.Source.
func (r *Runner) Status() []byte { return r.view.Load().statusJSON() }

// Ready implements admin.Source.
func (r *Runner) Ready() (bool, string) {
	v := r.view.Load()
	return v.ready, v.readyMsg
}

// ConfigDump implements admin.Source: the xDS being served, per fleet, as
// Envoy's admin /config_dump sections (egctl's shape). fleet "" means all.
func (r *Runner) ConfigDump(fleetKey string, t configdump.Type) (any, error) {
	v := r.view.Load()
	out := map[string]any{}
	keys := make([]string, 0, len(v.dumps))
	for k := range v.dumps {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if fleetKey != "" && k != fleetKey {
			continue
		}
		d := v.dumps[k]
		if d.resources == nil {
			out[k] = map[string]any{"version": "", "configs": []any{}}
			continue
		}
		bs := r.infra.Bootstrap(k)
		if t == configdump.Bootstrap && bs == nil {
			return nil, fmt.Errorf("fleet %q has no bootstrap: the built-in proxy needs none", k)
		}
		dump, err := configdump.Render(d.resources, bs, t)
		if err != nil {
			return nil, err
		}
		configs := []any{dump}
		if m, ok := dump.(map[string]any); ok && t == configdump.All {
			configs, _ = m["configs"].([]any)
		}
		out[k] = map[string]any{"version": d.version, "configs": configs}
	}
	if fleetKey != "" && len(out) == 0 {
		return nil, fmt.Errorf("no fleet %q", fleetKey)
	}
	return out, nil
}

// gatewayAddress is the address clients reach the Gateway's listeners on:
// --listener-address when set, else the loopback address (the proxy binds
// every address, 0.0.0.0, and loopback is the one always reachable).
func (r *Runner) gatewayAddress() string {
	if a := r.opts.ListenerAddress; a != "" && a != "0.0.0.0" && a != "::" {
		return a
	}
	return "127.0.0.1"
}

func ptrTo[T any](v T) *T { return &v }
