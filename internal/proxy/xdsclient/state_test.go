package xdsclient

import (
	"reflect"
	"testing"
)

// The client subscribes to what the accepted listeners and clusters need,
// keeps only what it subscribed to, and serves once nothing is missing.
func TestStateFollowsNeeds(t *testing.T) {
	s := newState()
	s.apply(TypeLDS, []Resource{{Name: "l", Needs: map[string][]string{TypeRDS: {"r1"}, TypeSDS: {"cert"}}}}, nil)
	s.apply(TypeCDS, []Resource{{Name: "c", Needs: map[string][]string{TypeEDS: {"c"}, TypeSDS: {"cert", "ca"}}}}, nil)
	subs := s.subscriptions()
	want := map[string][]string{TypeRDS: {"r1"}, TypeEDS: {"c"}, TypeSDS: {"ca", "cert"}}
	if !reflect.DeepEqual(subs, want) {
		t.Fatalf("subscriptions %v, want %v", subs, want)
	}
	if got := s.missingOf(subs); !reflect.DeepEqual(got, []string{"RDS r1", "EDS c", "SDS ca", "SDS cert"}) {
		t.Errorf("missing %v", got)
	}
	// A SotW RDS response: what was not asked for is not kept.
	s.apply(TypeRDS, []Resource{{Name: "r1"}, {Name: "r2"}}, subs)
	if _, ok := s.Resources(TypeRDS)["r2"]; ok || len(s.Resources(TypeRDS)) != 1 {
		t.Errorf("RDS kept %v", s.Resources(TypeRDS))
	}
	s.apply(TypeEDS, []Resource{{Name: "c"}}, subs)
	s.apply(TypeSDS, []Resource{{Name: "ca"}, {Name: "cert"}}, subs)
	if m := s.missingOf(subs); len(m) != 0 {
		t.Errorf("still missing %v", m)
	}
	// A delta LDS update that drops the listener: its route
	// configuration goes with it, the cluster's secrets stay.
	s.replace(TypeLDS, s.merged(TypeLDS, nil, []string{"l"}), subs)
	subs = s.subscriptions()
	s.prune(subs)
	if len(s.Resources(TypeRDS)) != 0 || len(s.Resources(TypeSDS)) != 2 || len(subs[TypeRDS]) != 0 {
		t.Errorf("after the listener went: RDS %v SDS %v subs %v", s.Resources(TypeRDS), s.Resources(TypeSDS), subs)
	}
}
