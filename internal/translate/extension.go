package translate

import (
	"fmt"
	"time"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
	"github.com/portico-gw/portico/internal/extension"
	"github.com/portico-gw/portico/internal/resource"
	"github.com/portico-gw/portico/internal/xds/xdstypes"
)

// extensionLoadOptions keeps the objects of the extension managers' kinds.
func extensionLoadOptions(cfg *egv1a1.EnvoyGateway) []resource.Option {
	return extension.LoadOptions(cfg)
}

// extensionHooks connects to the extension servers the config declares, or
// to addr (--extension-server) with every hook on when it declares none;
// egctl cannot run the hooks offline. Service TLS certificates are read
// from the Secrets in the input. The returned func closes the connections.
func extensionHooks(addr string, timeout time.Duration, cfg *egv1a1.EnvoyGateway, set *resource.Set) (xdstypes.Hooks, func(), error) {
	m, err := extension.New(cfg, extension.Options{
		Address:     addr,
		CallTimeout: timeout,
		Secret: func(ns, name string) (map[string][]byte, error) {
			for _, s := range set.Secrets {
				if s.Namespace == ns && s.Name == name {
					return s.Data, nil
				}
			}
			return nil, fmt.Errorf("secret %s/%s not found in the input", ns, name)
		},
	})
	if err != nil {
		return nil, func() {}, err
	}
	if m == nil {
		return nil, func() {}, nil
	}
	return m, func() { _ = m.Close() }, nil
}
