package runner

import (
	"fmt"

	"github.com/portico-gw/portico/internal/extension"
	"github.com/portico-gw/portico/internal/xds/xdstypes"
)

// setupExtensions builds the extension server chain the config declares.
// Its metrics go to the runner's registry; service TLS Secrets are read
// from the latest accepted input set.
func (r *Runner) setupExtensions() error {
	m, err := extension.New(r.cfg, extension.Options{
		CallTimeout: r.opts.ExtensionCallTimeout,
		Logger:      r.log.With("component", "extension"),
		Registerer:  r.metrics.reg,
		Secret:      r.secret,
	})
	if err != nil {
		return err
	}
	r.ext = m
	return nil
}

// extensionHooks is the chain as the pipeline sees it (an untyped nil when
// there is none).
func (r *Runner) extensionHooks() xdstypes.Hooks {
	if r.ext == nil {
		return nil
	}
	return r.ext
}

// secret finds a Secret in the latest input set. Hooks run on the loop
// goroutine, which owns r.last.
func (r *Runner) secret(ns, name string) (map[string][]byte, error) {
	if r.last.Set != nil {
		for _, s := range r.last.Set.Secrets {
			if s.Namespace == ns && s.Name == name {
				return s.Data, nil
			}
		}
	}
	return nil, fmt.Errorf("secret %s/%s not found in the input", ns, name)
}
