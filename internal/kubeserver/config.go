package kubeserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
	"github.com/portico-gw/portico/internal/provider/kubernetes"
	"github.com/portico-gw/portico/internal/resource"
)

// configDebounce is how long the config folder must be quiet before the
// file is read again: the kubelet updates a mounted ConfigMap by swapping a
// symlink, a burst of a few events.
const configDebounce = 100 * time.Millisecond

type configChange struct {
	cfg *egv1a1.EnvoyGateway
}

// loadConfig reads the configuration (defaults without a file) and checks
// that it is for the Kubernetes provider.
func loadConfig(o Options) (*egv1a1.EnvoyGateway, []byte, error) {
	if o.ConfigPath == "" {
		cfg := o.Config
		if cfg == nil {
			cfg = &egv1a1.EnvoyGateway{}
		}
		cfg = cfg.DeepCopy()
		resource.SetConfigDefaults(cfg)
		return cfg, nil, checkConfig(cfg)
	}
	raw, err := os.ReadFile(o.ConfigPath)
	if errors.Is(err, fs.ErrNotExist) {
		o.Logger.Warn("no configuration file: using the defaults", "path", o.ConfigPath)
		cfg := &egv1a1.EnvoyGateway{}
		resource.SetConfigDefaults(cfg)
		return cfg, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	cfg, err := parseConfig(o.ConfigPath, raw)
	return cfg, raw, err
}

func parseConfig(path string, raw []byte) (*egv1a1.EnvoyGateway, error) {
	cfg, err := resource.ParseConfig(path, raw)
	if err != nil {
		return nil, fmt.Errorf("%s is not a valid EnvoyGateway configuration: %w", path, err)
	}
	return cfg, checkConfig(cfg)
}

func checkConfig(cfg *egv1a1.EnvoyGateway) error {
	if cfg.Provider != nil && cfg.Provider.Type != egv1a1.ProviderTypeKubernetes {
		return fmt.Errorf("provider.type is %q: this command runs the Kubernetes provider", cfg.Provider.Type)
	}
	_, err := kubernetesSettings(cfg)
	return err
}

// kubernetesProvider is the part of provider.kubernetes Portico reads.
type kubernetesProvider struct {
	LeaderElection *struct {
		Disable       *bool   `json:"disable"`
		LeaseDuration *string `json:"leaseDuration"`
		RenewDeadline *string `json:"renewDeadline"`
		RetryPeriod   *string `json:"retryPeriod"`
	} `json:"leaderElection"`
}

func kubernetesSettings(cfg *egv1a1.EnvoyGateway) (kubernetesProvider, error) {
	var kp kubernetesProvider
	if cfg.Provider == nil || cfg.Provider.Kubernetes == nil || len(cfg.Provider.Kubernetes.Raw) == 0 {
		return kp, nil
	}
	if err := json.Unmarshal(cfg.Provider.Kubernetes.Raw, &kp); err != nil {
		return kp, fmt.Errorf("provider.kubernetes: %w", err)
	}
	if le := kp.LeaderElection; le != nil {
		for name, v := range map[string]*string{"leaseDuration": le.LeaseDuration, "renewDeadline": le.RenewDeadline, "retryPeriod": le.RetryPeriod} {
			if v == nil {
				continue
			}
			if _, err := time.ParseDuration(*v); err != nil {
				return kp, fmt.Errorf("provider.kubernetes.leaderElection.%s: %w", name, err)
			}
		}
	}
	return kp, nil
}

// leaderElection is provider.kubernetes.leaderElection (zero: defaults).
func leaderElection(cfg *egv1a1.EnvoyGateway) kubernetes.LeaderElection {
	kp, _ := kubernetesSettings(cfg) // checked by checkConfig
	var le kubernetes.LeaderElection
	if s := kp.LeaderElection; s != nil {
		le.Disable = s.Disable != nil && *s.Disable
		parse := func(v *string) time.Duration {
			if v == nil {
				return 0
			}
			d, _ := time.ParseDuration(*v)
			return d
		}
		le.LeaseDuration, le.RenewDeadline, le.Retry = parse(s.LeaseDuration), parse(s.RenewDeadline), parse(s.RetryPeriod)
	}
	return le
}

// watchConfig sends every valid change of the file; an invalid one is
// logged and skipped (the running configuration stays). The folder is
// watched, not the file: a mounted ConfigMap changes by a symlink swap.
func watchConfig(ctx context.Context, path string, current []byte, out chan<- configChange, log *slog.Logger) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		log.Error("cannot watch the configuration file; changes need a restart", "err", err)
		return
	}
	defer w.Close()
	if err := w.Add(filepath.Dir(path)); err != nil {
		log.Error("cannot watch the configuration file; changes need a restart", "path", path, "err", err)
		return
	}
	var quiet <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-w.Events:
			if !ok {
				return
			}
			quiet = time.After(configDebounce)
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			log.Warn("configuration watch error", "err", err)
			quiet = time.After(configDebounce)
		case <-quiet:
			quiet = nil
			raw, err := os.ReadFile(path)
			if err != nil || bytes.Equal(raw, current) {
				if err != nil {
					log.Error("configuration file unreadable; the running configuration is kept", "path", path, "err", err)
				}
				continue
			}
			cfg, err := parseConfig(path, raw)
			if err != nil {
				log.Error("configuration change rejected; the running configuration is kept", "err", err)
				current = raw // reported once, not on every event
				continue
			}
			current = raw
			select {
			case out <- configChange{cfg: cfg}:
			case <-ctx.Done():
				return
			}
		}
	}
}
