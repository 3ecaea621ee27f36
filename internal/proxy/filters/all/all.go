// Package all links every HTTP filter of the built-in proxy. A filter
// package registers its factory with filters.Register in its init, which
// runs only if something imports the package: this list is that import,
// and the one place a new filter is added (the proxy imports this
// package; tests that build a proxy get every filter through it).
package all

import (
	_ "github.com/portico-gw/portico/internal/proxy/filters/apikeyauth"
	_ "github.com/portico-gw/portico/internal/proxy/filters/basicauth"
	_ "github.com/portico-gw/portico/internal/proxy/filters/cors"
	_ "github.com/portico-gw/portico/internal/proxy/filters/extauthz"
	_ "github.com/portico-gw/portico/internal/proxy/filters/extproc"
	_ "github.com/portico-gw/portico/internal/proxy/filters/grpcstats"
	_ "github.com/portico-gw/portico/internal/proxy/filters/grpcweb"
	_ "github.com/portico-gw/portico/internal/proxy/filters/healthcheck"
	_ "github.com/portico-gw/portico/internal/proxy/filters/jwtauthn"
	_ "github.com/portico-gw/portico/internal/proxy/filters/lua"
	_ "github.com/portico-gw/portico/internal/proxy/filters/rbac"
	_ "github.com/portico-gw/portico/internal/proxy/filters/statefulsession"
	_ "github.com/portico-gw/portico/internal/proxy/filters/wasm"
)
