package wasm

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/portico-gw/portico/internal/gatewayapi"
	"github.com/portico-gw/portico/internal/wasm/oci"
)

// Image credentials are checked against the registry (Envoy Gateway's
// permission cache): again after DefaultRecheckEvery, and a check that
// cannot reach the registry keeps a module that the same credentials were
// allowed to pull within PermitGrace.
const (
	DefaultRecheckEvery = time.Hour
	PermitGrace         = 24 * time.Hour
)

// permitKey is one credential allowed to pull one image manifest through
// one URL (with the digest a policy pins, if any).
type permitKey struct{ url, digest, cred string }

func (s *Store) permitKeyOf(c gatewayapi.WasmCode, digest string) permitKey {
	return permitKey{c.URL + "\x00" + c.SHA256 + "\x00" + c.CACert, digest, s.credKey(c)}
}

// loadImage returns the module of an image code. A module cached under
// the digest the policy pins (or, without a pin and unless pullPolicy is
// Always, under the digest this URL resolved to before) is served once
// the registry lets the policy's credentials pull that manifest: only the
// manifest is fetched. Otherwise the image is resolved, its digest
// checked, and its layers pulled when the module is not cached yet.
func (s *Store) loadImage(c gatewayapi.WasmCode, f Fetcher) (gatewayapi.WasmModule, string, error) {
	o := f.withDefaults()
	ctx, cancel := context.WithTimeout(s.ctx, o.Total)
	defer cancel()
	client, err := s.imageClient(c, o)
	if err != nil {
		return gatewayapi.WasmModule{}, "", fmt.Errorf("could not fetch Wasm OCI image: %w", err)
	}
	name := oci.ModuleName(c.URL)
	digest := c.SHA256
	if digest == "" && c.PullVersion == "" {
		digest = s.o.Cache.Tag(name, c.URL)
	}
	if digest != "" {
		if mod, file, ok := s.cachedImage(c, name, digest); ok {
			if err := s.permit(ctx, client, c, name, digest, false); err != nil {
				return gatewayapi.WasmModule{}, "", err
			}
			return mod, file, nil
		}
	}
	im, err := client.Resolve(ctx, c.URL)
	if err != nil {
		if mod, file, ok := s.staleTag(ctx, client, c, name, err); ok {
			return mod, file, nil
		}
		return gatewayapi.WasmModule{}, "", fmt.Errorf("could not fetch Wasm OCI image: %w", err)
	}
	if c.SHA256 != "" && im.Digest != c.SHA256 && im.IndexDigest != c.SHA256 {
		return gatewayapi.WasmModule{}, "", fmt.Errorf("module downloaded from %s has checksum %s, which does not match: %s", c.URL, im.Digest, c.SHA256)
	}
	s.allowed(c, name, im.Digest)
	if err := s.o.Cache.SetTag(name, c.URL, im.Digest); err != nil {
		return gatewayapi.WasmModule{}, "", err
	}
	if mod, file, ok := s.cachedImage(c, name, im.Digest); ok {
		return mod, file, nil
	}
	b, _, err := im.Module(o.MaxSize)
	if err != nil {
		return gatewayapi.WasmModule{}, "", fmt.Errorf("could not fetch Wasm binary: %w", err)
	}
	if len(b) < 8 || !bytes.Equal(b[:4], wasmMagic) {
		return gatewayapi.WasmModule{}, "", fmt.Errorf("fetched Wasm binary from %s is invalid", c.URL)
	}
	if err := checkABI(b); err != nil {
		return gatewayapi.WasmModule{}, "", fmt.Errorf("module downloaded from %s: %w", c.URL, err)
	}
	file, err := s.o.Cache.PutImage(name, im.Digest, b)
	if err != nil {
		return gatewayapi.WasmModule{}, "", err
	}
	sum := sha256.Sum256(b)
	return s.serve(c, hex.EncodeToString(sum[:]), file), file, nil
}

// cachedImage serves the cached module of (name, digest), if any.
func (s *Store) cachedImage(c gatewayapi.WasmCode, name, digest string) (gatewayapi.WasmModule, string, bool) {
	b, sum, ok := s.o.Cache.GetImage(name, digest)
	if !ok || checkABI(b) != nil {
		return gatewayapi.WasmModule{}, "", false
	}
	file := s.o.Cache.ImagePath(name, digest)
	return s.serve(c, sum, file), file, true
}

// staleTag serves, when the registry cannot be reached, the module a tag
// URL resolved to last time, if these credentials were allowed to pull it
// recently: a registry that is down does not take modules away.
func (s *Store) staleTag(ctx context.Context, client *oci.Client, c gatewayapi.WasmCode, name string, cause error) (gatewayapi.WasmModule, string, bool) {
	digest := s.o.Cache.Tag(name, c.URL)
	if c.SHA256 != "" || digest == "" || !unreachable(cause) {
		return gatewayapi.WasmModule{}, "", false
	}
	mod, file, ok := s.cachedImage(c, name, digest)
	if !ok || s.permit(ctx, client, c, name, digest, false) != nil {
		return gatewayapi.WasmModule{}, "", false
	}
	s.o.Logger.Warn("wasm: registry unreachable; serving the module the tag resolved to before", "url", c.URL, "digest", digest, "err", cause)
	return mod, file, true
}

// permit asks the registry whether c's credentials may pull c's image,
// whose module is cached under digest (unless it said yes within
// RecheckEvery and force is false): one manifest request.
// A registry that cannot be reached keeps a yes it gave within
// PermitGrace.
func (s *Store) permit(ctx context.Context, client *oci.Client, c gatewayapi.WasmCode, name, digest string, force bool) error {
	k := s.permitKeyOf(c, digest)
	s.mu.Lock()
	last, ok := s.permits[k]
	s.mu.Unlock()
	if ok && !force && time.Since(last) < s.o.RecheckEvery {
		return nil
	}
	// The URL as the policy writes it, so that a pinned digest whose tag
	// moved fails whether or not another policy cached that digest.
	im, err := client.Resolve(ctx, c.URL)
	if err == nil {
		if c.SHA256 != "" && im.Digest != c.SHA256 && im.IndexDigest != c.SHA256 {
			return fmt.Errorf("module downloaded from %s has checksum %s, which does not match: %s", c.URL, im.Digest, c.SHA256)
		}
		s.allowed(c, name, digest)
		return nil
	}
	if unreachable(err) {
		if at, ok := s.o.Cache.Permitted(name, s.permitFile(k)); ok && time.Since(at) < PermitGrace {
			s.o.Logger.Warn("wasm: registry unreachable; keeping a module these credentials could pull", "url", c.URL, "err", err)
			return nil
		}
	}
	s.mu.Lock()
	delete(s.permits, k)
	s.mu.Unlock()
	return fmt.Errorf("failed to login to private registry: %w", err)
}

// allowed records that the registry let c's credentials pull digest.
func (s *Store) allowed(c gatewayapi.WasmCode, name, digest string) {
	k := s.permitKeyOf(c, digest)
	s.mu.Lock()
	s.permits[k] = time.Now()
	s.mu.Unlock()
	if err := s.o.Cache.SetPermitted(name, s.permitFile(k)); err != nil {
		s.o.Logger.Warn("wasm: cannot record a registry permission", "err", err)
	}
}

// credKey names c's credentials without revealing them: an HMAC under
// the cache's secret salt.
func (s *Store) credKey(c gatewayapi.WasmCode) string {
	m := hmac.New(sha256.New, s.salt)
	m.Write([]byte(c.PullSecret))
	return hex.EncodeToString(m.Sum(nil))
}

func (s *Store) permitFile(k permitKey) string {
	m := hmac.New(sha256.New, s.salt)
	m.Write([]byte(k.cred))
	m.Write([]byte{0})
	m.Write([]byte(k.digest))
	return hex.EncodeToString(m.Sum(nil))
}

// unreachable reports an error that is not the registry's answer about
// the image: a transport failure, a timeout or a 5xx. A certificate that
// does not verify is an answer: the registry is not who it should be.
func unreachable(err error) bool {
	var te *transport.Error
	if errors.As(err, &te) {
		return te.StatusCode >= http.StatusInternalServerError
	}
	var tv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	return !errors.As(err, &tv) && !errors.As(err, &ua) && !errors.As(err, &hn) && !errors.As(err, &ci)
}

// imageClient is a registry client for c with the store's limits.
func (s *Store) imageClient(c gatewayapi.WasmCode, o Fetcher) (*oci.Client, error) {
	client := &oci.Client{CACert: c.CACert, Timeout: o.Timeout, Attempts: o.Attempts, Backoff: o.BackoffBase, Transport: o.Transport}
	if c.PullSecret != "" {
		cfg := oci.DockerConfig(c.PullSecret)
		if err := cfg.Validate(); err != nil {
			return nil, err
		}
		client.Auth = cfg
	}
	if err := client.Validate(); err != nil {
		return nil, err
	}
	return client, nil
}

// scheduleRecheck asks the registry again, after RecheckEvery, whether
// the credentials of a served image may still pull it. A definite no
// (not an unreachable registry) takes the module away from the policy,
// which then retries in the background like any failed module.
func (s *Store) scheduleRecheck(c gatewayapi.WasmCode, e *entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e.gone || s.ctx.Err() != nil {
		return
	}
	e.retry = time.AfterFunc(s.o.RecheckEvery, func() { s.recheck(c, e) })
}

func (s *Store) recheck(c gatewayapi.WasmCode, e *entry) {
	o := s.o.Fetcher.withDefaults()
	ctx, cancel := context.WithTimeout(s.ctx, o.Total)
	defer cancel()
	s.mu.Lock()
	file, gone := e.file, e.gone
	s.mu.Unlock()
	if gone {
		return
	}
	client, err := s.imageClient(c, o)
	if err == nil {
		// The file is named by the manifest digest it was pulled at.
		digest := strings.TrimSuffix(filepath.Base(file), ".wasm")
		err = s.permit(ctx, client, c, oci.ModuleName(c.URL), digest, true)
	}
	// Only the registry's own no takes a served module away; a registry
	// that stays unreachable does not, however long.
	if err == nil || unreachable(err) {
		s.scheduleRecheck(c, e)
		return
	}
	s.mu.Lock()
	if e.gone {
		s.mu.Unlock()
		return
	}
	e.mod, e.err, e.file = gatewayapi.WasmModule{}, err, ""
	retry := s.o.Fetcher
	retry.Attempts = 1
	e.retry = time.AfterFunc(e.backoff, func() { s.fetch(c, e, retry) })
	s.mu.Unlock()
	s.o.Logger.Warn("wasm: the registry no longer lets this policy's credentials pull the image", "url", c.URL, "err", err)
	if s.o.OnChange != nil {
		s.o.OnChange()
	}
}
