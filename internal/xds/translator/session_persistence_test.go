package translator

import (
	"testing"

	"github.com/portico-gw/portico/internal/ir"
)

// The session cookie's Path follows the route's path match (GEP-1619).
func TestCookiePath(t *testing.T) {
	s := func(v string) *string { return &v }
	for _, tc := range []struct {
		m    *ir.StringMatch
		want string
	}{
		{nil, "/"},
		{&ir.StringMatch{Exact: s("/a/b")}, "/a/b"},
		{&ir.StringMatch{Prefix: s("/a/")}, "/a/"},
		{&ir.StringMatch{SafeRegex: s("/p1/p2/.*/p3")}, "/p1/p2"},
		{&ir.StringMatch{SafeRegex: s("/p1/p2*")}, "/p1"},
		{&ir.StringMatch{Suffix: s(".js")}, "/"},
	} {
		if got := cookiePath(tc.m); got != tc.want {
			t.Errorf("cookiePath(%+v) = %q, want %q", tc.m, got, tc.want)
		}
	}
}

// A route whose session persistence names neither a cookie nor a header
// is a translator error, not a silently unsticky route.
func TestStatefulSessionNeedsAState(t *testing.T) {
	_, err := statefulSession(&ir.HTTPRoute{Name: "r", SessionPersistence: &ir.SessionPersistence{}})
	if err == nil || err.Error() != "route r: session persistence without a cookie or a header" {
		t.Fatalf("err = %v", err)
	}
	_, err = statefulSession(&ir.HTTPRoute{Name: "r", SessionPersistence: &ir.SessionPersistence{Cookie: &ir.CookieBasedSessionPersistence{Name: "c", TTL: "soon"}}})
	if err == nil {
		t.Fatal("a bad ttl was accepted")
	}
}
