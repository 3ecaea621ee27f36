// Package certgen is `portico certgen`, Envoy Gateway's certgen Job: it
// makes the Secrets of the mutual TLS between the control plane and its
// proxies in the control plane's namespace, from internal/certs:
//
//   - envoy-gateway (kubernetes.io/tls with ca.crt): the xDS server's,
//     mounted by the control plane at /certs;
//   - envoy (the same): the proxies', mounted by every proxy pod at /certs;
//   - envoy-oidc-hmac (Opaque, hmac-secret): 32 random bytes, as Envoy
//     Gateway makes it.
//
// Secrets that exist are kept (a Helm upgrade reruns the Job) unless
// Overwrite; when only one of the two TLS Secrets exists both are made
// again, since they must share their CA. envoy-rate-limit is not made:
// Portico has no rate limit service to use it.
package certgen

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/portico-gw/portico/internal/certs"
)

// HMACSecret is the OIDC HMAC Secret's name.
const HMACSecret = "envoy-oidc-hmac"

// Options configure Run.
type Options struct {
	Namespace, ClusterDomain string
	// Overwrite replaces Secrets that exist.
	Overwrite bool
	Logger    *slog.Logger
}

// Run makes the Secrets that are missing and returns their names.
func Run(ctx context.Context, c client.Client, o Options) ([]string, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	exists := func(name string) (bool, error) {
		err := c.Get(ctx, types.NamespacedName{Namespace: o.Namespace, Name: name}, &corev1.Secret{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil, err
	}
	var made []string
	cp, err := exists(certs.ControlPlane)
	if err != nil {
		return nil, err
	}
	px, err := exists(certs.Proxy)
	if err != nil {
		return nil, err
	}
	if o.Overwrite || !cp || !px {
		set, err := certs.Generate(certs.Options{Namespace: o.Namespace, ClusterDomain: o.ClusterDomain})
		if err != nil {
			return nil, err
		}
		for _, b := range []struct {
			name   string
			bundle certs.Bundle
		}{{certs.ControlPlane, set.ControlPlane}, {certs.Proxy, set.Proxy}} {
			s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: o.Namespace, Name: b.name}, Type: corev1.SecretTypeTLS,
				Data: map[string][]byte{certs.CAFile: b.bundle.CA, certs.CertFile: b.bundle.Cert, certs.KeyFile: b.bundle.Key}}
			if err := createOrReplace(ctx, c, s); err != nil {
				return made, fmt.Errorf("secret %s: %w", b.name, err)
			}
			made = append(made, b.name)
		}
	} else {
		o.Logger.Info("the TLS Secrets exist: kept", "namespace", o.Namespace)
	}
	hm, err := exists(HMACSecret)
	if err != nil {
		return made, err
	}
	if o.Overwrite || !hm {
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return made, err
		}
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: o.Namespace, Name: HMACSecret}, Type: corev1.SecretTypeOpaque,
			Data: map[string][]byte{"hmac-secret": key}}
		if err := createOrReplace(ctx, c, s); err != nil {
			return made, fmt.Errorf("secret %s: %w", HMACSecret, err)
		}
		made = append(made, HMACSecret)
	}
	return made, nil
}

func createOrReplace(ctx context.Context, c client.Client, s *corev1.Secret) error {
	err := c.Create(ctx, s)
	if !apierrors.IsAlreadyExists(err) {
		return err
	}
	var cur corev1.Secret
	if err := c.Get(ctx, client.ObjectKeyFromObject(s), &cur); err != nil {
		return err
	}
	cur.Type, cur.Data = s.Type, s.Data
	return c.Update(ctx, &cur)
}
