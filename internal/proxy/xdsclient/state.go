package xdsclient

import (
	"maps"
	"slices"
	"sort"
)

// xDS type URLs the client subscribes to.
const (
	TypeLDS = "type.googleapis.com/envoy.config.listener.v3.Listener"
	TypeRDS = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
	TypeCDS = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
	TypeEDS = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
	TypeSDS = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"
)

// ShortType names the types as Envoy's logs and Portico's status do.
var ShortType = map[string]string{TypeLDS: "LDS", TypeRDS: "RDS", TypeCDS: "CDS", TypeEDS: "EDS", TypeSDS: "SDS"}

// typeOrder is the order types are sent, logged and listed in.
var typeOrder = []string{TypeLDS, TypeRDS, TypeCDS, TypeEDS, TypeSDS}

// dependent lists the types subscribed by name, as LDS and CDS require.
var dependent = []string{TypeRDS, TypeEDS, TypeSDS}

// Resource is one resource as the Handler compiled it.
type Resource struct {
	Name string
	// Value is the compiled resource; the client only stores it.
	Value    any
	Warnings []string
	// Needs names the resources of other types it references, by type
	// URL: a listener its route configurations and secrets, a cluster
	// its load assignment and secrets. LDS and CDS resources' needs are
	// what the client subscribes to over RDS, EDS and SDS.
	Needs map[string][]string
}

// State is the accepted config: every type's resources, owned by the ADS
// goroutine. A response changes it only once it is accepted whole, so a
// NACK leaves it as it was; it survives reconnections, so a control
// plane restart never empties the proxy.
type State struct {
	res      map[string]map[string]Resource
	versions map[string]string
	// resVersions are the accepted resources' versions per type (delta).
	resVersions map[string]map[string]string
}

func newState() *State {
	s := &State{res: map[string]map[string]Resource{}, versions: map[string]string{}, resVersions: map[string]map[string]string{}}
	for _, t := range typeOrder {
		s.res[t] = map[string]Resource{}
	}
	return s
}

// Resources are the accepted resources of a type, by name. The map is
// the state's own: read it, do not keep or change it.
func (s *State) Resources(typeURL string) map[string]Resource { return s.res[typeURL] }

// Version is the accepted version of a type.
func (s *State) Version(typeURL string) string { return s.versions[typeURL] }

// Versions is every type's version, by short name.
func (s *State) Versions() map[string]string {
	out := map[string]string{}
	for _, t := range typeOrder {
		out[ShortType[t]] = s.versions[t]
	}
	return out
}

// subscriptions lists the RDS, EDS and SDS names the current LDS/CDS need.
func (s *State) subscriptions() map[string][]string {
	sets := map[string]map[string]bool{TypeRDS: {}, TypeEDS: {}, TypeSDS: {}}
	for _, t := range []string{TypeLDS, TypeCDS} {
		for _, r := range s.res[t] {
			for dt, names := range r.Needs {
				for _, n := range names {
					sets[dt][n] = true
				}
			}
		}
	}
	out := map[string][]string{}
	for t, set := range sets {
		for n := range set {
			out[t] = append(out[t], n)
		}
		sort.Strings(out[t])
	}
	return out
}

// Missing lists what is still needed before the config can be served
// without warming holes (Envoy's cluster and listener warming).
func (s *State) Missing() []string { return s.missingOf(s.subscriptions()) }

// missingOf is Missing with the subscriptions already computed.
func (s *State) missingOf(subs map[string][]string) []string {
	var out []string
	for _, t := range dependent {
		for _, n := range subs[t] {
			if _, ok := s.res[t][n]; !ok {
				out = append(out, ShortType[t]+" "+n)
			}
		}
	}
	return out
}

// apply merges an accepted SotW response. LDS and CDS are state of the
// world; RDS, EDS and SDS responses update the resources they carry, and
// resources no longer subscribed to are dropped.
func (s *State) apply(typeURL string, res []Resource, subs map[string][]string) {
	if typeURL == TypeLDS || typeURL == TypeCDS {
		m := make(map[string]Resource, len(res))
		for _, r := range res {
			m[r.Name] = r
		}
		s.res[typeURL] = m
		s.prune(subs)
		return
	}
	names := subs[typeURL]
	for _, r := range res {
		if _, ok := slices.BinarySearch(names, r.Name); ok {
			s.res[typeURL][r.Name] = r
		}
	}
}

// merged is the type's accepted resources with res added or replaced and
// the removed names dropped: what a delta response makes of the state.
func (s *State) merged(typeURL string, res []Resource, removed []string) map[string]Resource {
	out := make(map[string]Resource, len(s.res[typeURL])+len(res))
	maps.Copy(out, s.res[typeURL])
	for _, n := range removed {
		delete(out, n)
	}
	for _, r := range res {
		out[r.Name] = r
	}
	return out
}

// replace makes whole the type's state; named types keep only what is
// subscribed.
func (s *State) replace(typeURL string, whole map[string]Resource, subs map[string][]string) {
	if typeURL == TypeLDS || typeURL == TypeCDS {
		s.res[typeURL] = whole
		s.prune(subs)
		return
	}
	m := map[string]Resource{}
	for _, n := range subs[typeURL] {
		if r, ok := whole[n]; ok {
			m[n] = r
		}
	}
	s.res[typeURL] = m
}

// prune drops RDS, EDS and SDS resources no longer referenced.
func (s *State) prune(subs map[string][]string) {
	for _, t := range dependent {
		for n := range s.res[t] {
			if _, ok := slices.BinarySearch(subs[t], n); !ok {
				delete(s.res[t], n)
			}
		}
	}
}

// resourceVersions are the versions of the type's accepted resources, for
// a reconnecting stream's initial_resource_versions: the server then sends
// only what changed while the proxy was away.
func (s *State) resourceVersions(typeURL string) map[string]string {
	if len(s.resVersions[typeURL]) == 0 {
		return nil
	}
	return maps.Clone(s.resVersions[typeURL])
}

func (s *State) noteVersions(typeURL string, added map[string]string, removed []string) {
	m := s.resVersions[typeURL]
	if m == nil {
		m = map[string]string{}
		s.resVersions[typeURL] = m
	}
	for _, n := range removed {
		delete(m, n)
	}
	maps.Copy(m, added)
}
