package gatewayapi

import (
	"reflect"
	"testing"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/portico-gw/portico/internal/ir"
)

func TestSessionPersistence(t *testing.T) {
	cookie, header := gwapiv1.CookieBasedSessionPersistence, gwapiv1.HeaderBasedSessionPersistence
	permanent, session := gwapiv1.PermanentCookieLifetimeType, gwapiv1.SessionCookieLifetimeType
	d := func(s string) *gwapiv1.Duration { v := gwapiv1.Duration(s); return &v }
	const rule = "httproute/default/r/rule/2"
	for _, tc := range []struct {
		name string
		in   gwapiv1.SessionPersistence
		want *ir.SessionPersistence
		msg  string
	}{
		{"defaults: a cookie named after the rule", gwapiv1.SessionPersistence{},
			&ir.SessionPersistence{Cookie: &ir.CookieBasedSessionPersistence{Name: "httproute-default-r-rule-2"}}, ""},
		{"permanent cookie: absoluteTimeout is its ttl", gwapiv1.SessionPersistence{SessionName: ptr("s"), Type: &cookie,
			AbsoluteTimeout: d("1h30m"), CookieConfig: &gwapiv1.CookieConfig{LifetimeType: &permanent}},
			&ir.SessionPersistence{Cookie: &ir.CookieBasedSessionPersistence{Name: "s", TTL: "1h30m0s"}}, ""},
		{"session cookie without timeout", gwapiv1.SessionPersistence{CookieConfig: &gwapiv1.CookieConfig{LifetimeType: &session}},
			&ir.SessionPersistence{Cookie: &ir.CookieBasedSessionPersistence{Name: "httproute-default-r-rule-2"}}, ""},
		{"header", gwapiv1.SessionPersistence{SessionName: ptr("X-Session"), Type: &header},
			&ir.SessionPersistence{Header: &ir.HeaderBasedSessionPersistence{Name: "X-Session"}}, ""},
		{"session cookie with absoluteTimeout: refused", gwapiv1.SessionPersistence{AbsoluteTimeout: d("10m")}, nil,
			"sessionPersistence.absoluteTimeout with a Session cookie is not supported by Portico yet: the gateway does not time sessions out (set cookieConfig.lifetimeType: Permanent for a cookie with that Max-Age)."},
		{"bad duration", gwapiv1.SessionPersistence{AbsoluteTimeout: d("1 day"), CookieConfig: &gwapiv1.CookieConfig{LifetimeType: &permanent}}, nil,
			`sessionPersistence.absoluteTimeout "1 day" is not a duration.`},
		{"empty name", gwapiv1.SessionPersistence{SessionName: ptr("")}, nil,
			`sessionPersistence.sessionName "" is not a valid cookie or header name.`},
		{"name with a space", gwapiv1.SessionPersistence{SessionName: ptr("my session"), Type: &header}, nil,
			`sessionPersistence.sessionName "my session" is not a valid cookie or header name.`},
		{"unknown type", gwapiv1.SessionPersistence{Type: ptr(gwapiv1.SessionPersistenceType("Query"))}, nil,
			`sessionPersistence.type "Query" is not supported: Cookie and Header are.`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, msg := sessionPersistence(&tc.in, rule)
			if msg != tc.msg || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v %q, want %+v %q", got, msg, tc.want, tc.msg)
			}
		})
	}
}
