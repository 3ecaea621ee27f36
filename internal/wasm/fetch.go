// Package wasm fetches Wasm modules for EnvoyExtensionPolicies, keeps them
// in an on-disk cache and serves them to proxies on the wasm port.
//
// The control plane downloads modules itself, as Envoy Gateway does: the
// origin must be reachable from the control plane, never from proxies.
// Proxies learn a module's serving URL and sha256 from xDS and download it
// from Server. Translation looks modules up through a Snapshot (see
// gatewayapi.WasmModules) and never waits for a download.
package wasm

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Envoy Gateway's download limits.
const (
	DefaultAttempts    = 5
	DefaultTimeout     = 15 * time.Second
	DefaultTotal       = 5 * time.Minute
	DefaultMaxSize     = 256 << 20
	DefaultBackoffBase = 500 * time.Millisecond
	DefaultBackoffMax  = 60 * time.Second
)

// Fetcher downloads one module over HTTP(S) with retries.
type Fetcher struct {
	// Attempts is the most downloads tried per Fetch (DefaultAttempts).
	Attempts int
	// Timeout bounds one attempt (DefaultTimeout); Total the whole Fetch.
	Timeout, Total time.Duration
	// MaxSize caps the downloaded body and every unwrapped layer.
	MaxSize int64
	// BackoffBase doubles after each failed attempt, up to BackoffMax.
	BackoffBase, BackoffMax time.Duration
	// Transport is used for URLs without a CA of their own (tests pass
	// one; nil is http.DefaultTransport's settings).
	Transport http.RoundTripper
}

func (f *Fetcher) withDefaults() Fetcher {
	o := *f
	if o.Attempts <= 0 {
		o.Attempts = DefaultAttempts
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Total <= 0 {
		o.Total = DefaultTotal
	}
	if o.MaxSize <= 0 {
		o.MaxSize = DefaultMaxSize
	}
	if o.BackoffBase <= 0 {
		o.BackoffBase = DefaultBackoffBase
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = DefaultBackoffMax
	}
	return o
}

// Fetched is a verified module.
type Fetched struct {
	Bytes  []byte
	SHA256 string
}

// statusError is an HTTP status that ended an attempt.
type statusError struct{ code int }

func (e statusError) Error() string {
	return fmt.Sprintf("wasm module download request failed: status code %d", e.code)
}

// retryable is Envoy Gateway's rule: transport errors and 5xx except
// 501, 505 and 511 are retried; any other status is final.
func retryable(err error) bool {
	if errors.Is(err, errTooLarge) {
		return false
	}
	var se statusError
	if !errors.As(err, &se) {
		return true
	}
	return se.code >= 500 && se.code != http.StatusNotImplemented &&
		se.code != http.StatusHTTPVersionNotSupported && se.code != http.StatusNetworkAuthenticationRequired
}

// Fetch downloads url, unwraps gzip and tar layers, checks the Wasm magic
// number, the proxy-wasm ABI export and, when want is not empty, the
// sha256 of the module. caPEM, when not empty, is the only CA trusted for
// an https URL.
func (f *Fetcher) Fetch(ctx context.Context, url, want, caPEM string) (*Fetched, error) {
	o := f.withDefaults()
	ctx, cancel := context.WithTimeout(ctx, o.Total)
	defer cancel()
	client, err := o.client(caPEM)
	if err != nil {
		return nil, err
	}
	var body []byte
	attempts := 0
	backoff := o.BackoffBase
	for {
		attempts++
		body, err = o.get(ctx, client, url)
		if err == nil || attempts >= o.Attempts || !retryable(err) || ctx.Err() != nil {
			break
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
		backoff = min(2*backoff, o.BackoffMax)
	}
	if err != nil {
		return nil, fmt.Errorf("wasm module download failed after %d attempts, last error: %w", attempts, err)
	}
	return verify(url, body, want, o.MaxSize)
}

func (o *Fetcher) client(caPEM string) (*http.Client, error) {
	c := &http.Client{Timeout: o.Timeout, Transport: o.Transport}
	if caPEM == "" {
		return c, nil
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(caPEM)) {
		return nil, errors.New("the CA certificate of tls.caCertificateRef is not valid PEM")
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	c.Transport = t
	return c, nil
}

func (o *Fetcher) get(ctx context.Context, c *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, statusError{resp.StatusCode}
	}
	return readLimited(resp.Body, o.MaxSize, url)
}

func readLimited(r io.Reader, limit int64, url string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("wasm module from %s is larger than the limit of %d bytes%w", url, limit, errTooLarge)
	}
	return b, nil
}

// verify unwraps and checks a downloaded body.
func verify(url string, body []byte, want string, limit int64) (*Fetched, error) {
	mod, err := unwrap(body, limit, url)
	if err != nil {
		return nil, err
	}
	if len(mod) < 8 || !bytes.Equal(mod[:4], wasmMagic) {
		return nil, fmt.Errorf("fetched Wasm binary from %s is invalid", url)
	}
	sum := sha256.Sum256(mod)
	got := hex.EncodeToString(sum[:])
	if want != "" && got != want {
		return nil, fmt.Errorf("module downloaded from %s has checksum %s, which does not match: %s", url, got, want)
	}
	if err := checkABI(mod); err != nil {
		return nil, fmt.Errorf("module downloaded from %s: %w", url, err)
	}
	return &Fetched{Bytes: mod, SHA256: got}, nil
}

// errTooLarge marks a size error (final: a retry gets the same bytes).
var errTooLarge = tooLarge{}

type tooLarge struct{}

func (tooLarge) Error() string { return "" }

var wasmMagic = []byte{0x00, 0x61, 0x73, 0x6d}

// unwrap removes gzip and tar layers (a tar gives its first regular file)
// until neither is left, so a module may be served compressed or packed.
func unwrap(b []byte, limit int64, url string) ([]byte, error) {
	for range 8 {
		switch {
		case len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b:
			zr, err := gzip.NewReader(bytes.NewReader(b))
			if err != nil {
				return nil, fmt.Errorf("fetched Wasm binary from %s is invalid: gzip: %v", url, err)
			}
			if b, err = readLimited(zr, limit, url); err != nil {
				return nil, err
			}
		case len(b) >= 262 && string(b[257:262]) == "ustar":
			tr := tar.NewReader(bytes.NewReader(b))
			var err error
			b, err = firstTarFile(tr, limit, url)
			if err != nil {
				return nil, err
			}
		default:
			return b, nil
		}
	}
	return nil, fmt.Errorf("fetched Wasm binary from %s is invalid: too many nested archives", url)
}

func firstTarFile(tr *tar.Reader, limit int64, url string) ([]byte, error) {
	for {
		h, err := tr.Next()
		if err != nil {
			return nil, fmt.Errorf("fetched Wasm binary from %s is invalid: tar: no file in the archive", url)
		}
		if h.Typeflag == tar.TypeReg {
			return readLimited(tr, limit, url)
		}
	}
}
