package patch

import (
	"fmt"
	"strings"

	"github.com/portico-gw/portico/internal/ir"
)

// Names maps the names resources would have under the xDS name scheme that
// is NOT in use to the names they have. Envoy Gateway switched its default
// scheme in v1.5, so a policy copied from older docs (or newer ones) names
// resources that do not exist; the status then says which name to use
// instead of only "not found".
type Names struct {
	// V2 is true when the resources use name scheme v2.
	V2    bool
	other map[string]string // "<typeURL>/<other-scheme name>" -> name in use
}

// NamesFor derives the names of both schemes from the IR the resources
// were translated from. The rules are the xDS translator's (one Envoy
// listener per address and port, named after its first IR listener in v1
// and tcp-<gateway port> in v2; a plain-HTTP route configuration named
// like its listener in v1 and http-<gateway port> in v2; HTTPS route
// configurations keep their IR listener name in both).
func NamesFor(x *ir.Xds) *Names {
	if x == nil {
		return nil
	}
	n := &Names{V2: x.XDSNameSchemeV2, other: map[string]string{}}
	seen := map[string]bool{}
	for _, l := range x.HTTP {
		if l == nil {
			continue
		}
		key := fmt.Sprintf("%s|%d", l.Address, l.Port)
		if seen[key] {
			continue
		}
		seen[key] = true
		port := l.ExternalPort
		if port == 0 {
			port = l.Port
		}
		n.pair(ListenerType, l.Name, fmt.Sprintf("tcp-%d", port))
		if l.TLS == nil {
			n.pair(RouteType, l.Name, fmt.Sprintf("http-%d", port))
		}
	}
	return n
}

func (n *Names) pair(typeURL, v1, v2 string) {
	if n.V2 {
		n.other[typeURL+"/"+v1] = v2
	} else {
		n.other[typeURL+"/"+v2] = v1
	}
}

func (n *Names) scheme() (inUse, other string) {
	if n.V2 {
		return "v2", "v1"
	}
	return "v1", "v2"
}

// hint explains a missing name that exists under the other scheme.
func (n *Names) hint(typeURL, name string) string {
	if n == nil {
		return ""
	}
	actual, ok := n.other[typeURL+"/"+name]
	if !ok {
		return ""
	}
	inUse, other := n.scheme()
	short := typeURL[strings.LastIndex(typeURL, ".")+1:]
	return fmt.Sprintf("%s %q is a name of xDS name scheme %s, but this proxy uses scheme %s: use %q.", short, name, other, inUse, actual)
}
