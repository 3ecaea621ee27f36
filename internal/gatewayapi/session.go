package gatewayapi

import (
	"fmt"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/portico-gw/portico/internal/ir"
)

// sessionPersistence translates a rule's sessionPersistence as Envoy
// Gateway does: the session name defaults to the rule's destination name
// with "/" made "-" (a header name cannot hold "/"); a cookie gets a TTL
// (Max-Age) only when it is Permanent with an absoluteTimeout, else it is a
// session cookie, and a Session cookie with an absoluteTimeout is refused
// (see below). The cookie's Path comes from each route's path match (the
// xDS translator). A non-empty message means the rule cannot be honoured.
func sessionPersistence(sp *gwapiv1.SessionPersistence, ruleName string) (*ir.SessionPersistence, string) {
	name := strings.ReplaceAll(ruleName, "/", "-")
	if sp.SessionName != nil {
		name = *sp.SessionName
	}
	// A cookie's and a header's name are both HTTP tokens; anything else
	// would make the proxy refuse the whole listener's config.
	if !httpguts.ValidHeaderFieldName(name) {
		return nil, fmt.Sprintf("sessionPersistence.sessionName %q is not a valid cookie or header name.", name)
	}
	typ := gwapiv1.CookieBasedSessionPersistence
	if sp.Type != nil {
		typ = *sp.Type
	}
	switch typ {
	case gwapiv1.CookieBasedSessionPersistence:
		out := &ir.SessionPersistence{Cookie: &ir.CookieBasedSessionPersistence{Name: name}}
		permanent := sp.CookieConfig != nil && sp.CookieConfig.LifetimeType != nil &&
			*sp.CookieConfig.LifetimeType == gwapiv1.PermanentCookieLifetimeType
		if sp.AbsoluteTimeout == nil {
			return out, ""
		}
		if !permanent {
			// Gateway API: the gateway itself ends a Session cookie's
			// session after absoluteTimeout. Envoy's cookie state cannot
			// (Envoy Gateway drops the timeout without a word).
			return nil, "sessionPersistence.absoluteTimeout with a Session cookie is not supported by Portico yet: " +
				"the gateway does not time sessions out (set cookieConfig.lifetimeType: Permanent for a cookie with that Max-Age)."
		}
		d, err := time.ParseDuration(string(*sp.AbsoluteTimeout))
		if err != nil {
			return nil, fmt.Sprintf("sessionPersistence.absoluteTimeout %q is not a duration.", *sp.AbsoluteTimeout)
		}
		out.Cookie.TTL = d.String()
		return out, ""
	case gwapiv1.HeaderBasedSessionPersistence:
		return &ir.SessionPersistence{Header: &ir.HeaderBasedSessionPersistence{Name: name}}, ""
	}
	return nil, fmt.Sprintf("sessionPersistence.type %q is not supported: Cookie and Header are.", typ)
}
