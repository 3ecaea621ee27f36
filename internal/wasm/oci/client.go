// Package oci pulls Wasm modules packed as container images from
// registries, and builds such images, in the three formats Envoy Gateway
// consumes: a Docker image (last layer a gzipped tar holding plugin.wasm),
// an OCI image (the same with OCI media types) and the Wasm OCI artifact
// (a raw application/vnd.module.wasm.content.layer.v1+wasm layer).
//
// It knows registries and image formats only: checking the module itself,
// caching it and serving it to proxies is internal/wasm's job.
package oci

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Prefix marks an image URL in a Wasm code source.
const Prefix = "oci://"

// Client talks to registries with one set of credentials and trust.
type Client struct {
	// Auth answers the registry's challenge; nil is anonymous.
	Auth authn.Keychain
	// CACert, when not empty, is the only CA trusted for TLS registries.
	CACert string
	// Timeout bounds the wait for each response's headers, so a registry
	// that accepts connections but never answers fails instead of hanging.
	Timeout time.Duration
	// Attempts is how many times a request that failed for a temporary
	// reason (transport error, 408, 429, 5xx) is tried; Backoff spaces them.
	Attempts int
	Backoff  time.Duration
	// Transport is the base transport (tests); nil clones
	// http.DefaultTransport.
	Transport http.RoundTripper
	// Insecure allows plain HTTP and unverified TLS to any registry (for
	// authors' tools; pulls for policies never set it).
	Insecure bool
}

// Reference parses an image URL (with or without oci://).
func Reference(url string) (name.Reference, error) {
	ref, err := name.ParseReference(strings.TrimPrefix(url, Prefix))
	if err != nil {
		return nil, fmt.Errorf("could not parse url in image reference: %w", err)
	}
	return ref, nil
}

// ModuleName is the image's repository without tag or digest, as
// oci://registry/repository: the name modules are cached under.
func ModuleName(url string) string {
	ref, err := Reference(url)
	if err != nil {
		return url
	}
	return Prefix + ref.Context().Name()
}

// DigestOf returns the hex sha256 of an @sha256: URL, or "".
func DigestOf(url string) string {
	ref, err := Reference(url)
	if err != nil {
		return ""
	}
	if d, ok := ref.(name.Digest); ok {
		if hex, ok := strings.CutPrefix(d.DigestStr(), "sha256:"); ok {
			return hex
		}
	}
	return ""
}

func (c *Client) options(ctx context.Context) ([]remote.Option, error) {
	t, err := c.transport()
	if err != nil {
		return nil, err
	}
	opts := []remote.Option{remote.WithContext(ctx), remote.WithTransport(t)}
	if c.Auth != nil {
		opts = append(opts, remote.WithAuthFromKeychain(c.Auth))
	} else {
		opts = append(opts, remote.WithAuth(authn.Anonymous))
	}
	if c.Attempts > 0 {
		opts = append(opts, remote.WithRetryBackoff(remote.Backoff{Duration: max(c.Backoff, time.Millisecond), Factor: 2, Steps: c.Attempts}))
	}
	return opts, nil
}

// Validate reports a configuration that cannot work (a CA that is not
// PEM) before any request is made.
func (c *Client) Validate() error {
	_, err := c.transport()
	return err
}

func (c *Client) transport() (http.RoundTripper, error) {
	if c.CACert == "" && c.Timeout <= 0 && !c.Insecure && c.Transport != nil {
		return c.Transport, nil
	}
	var t *http.Transport
	if base, ok := c.Transport.(*http.Transport); ok {
		t = base.Clone()
	} else {
		t = http.DefaultTransport.(*http.Transport).Clone()
	}
	if c.Timeout > 0 {
		t.ResponseHeaderTimeout = c.Timeout
	}
	if c.CACert != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(c.CACert)) {
			return nil, errors.New("the CA certificate of tls.caCertificateRef is not valid PEM")
		}
		t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	if c.Insecure {
		t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // asked for by --insecure
	}
	return t, nil
}

// get fetches the manifest of url. A registry that answers plain HTTP to
// an https request is asked again over HTTP, as Envoy Gateway does;
// loopback and private addresses are tried over HTTP anyway.
func (c *Client) get(ctx context.Context, url string) (*remote.Descriptor, error) {
	ref, err := c.reference(url)
	if err != nil {
		return nil, err
	}
	opts, err := c.options(ctx)
	if err != nil {
		return nil, err
	}
	desc, err := remote.Get(ref, opts...)
	if err != nil && strings.Contains(err.Error(), "server gave HTTP response") {
		if ref, err = name.ParseReference(strings.TrimPrefix(url, Prefix), name.Insecure); err == nil {
			desc, err = remote.Get(ref, opts...)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("could not fetch manifest: %w", err)
	}
	return desc, nil
}

func (c *Client) reference(url string) (name.Reference, error) {
	if !c.Insecure {
		return Reference(url)
	}
	ref, err := name.ParseReference(strings.TrimPrefix(url, Prefix), name.Insecure)
	if err != nil {
		return nil, fmt.Errorf("could not parse url in image reference: %w", err)
	}
	return ref, nil
}

// Push writes img to the registry at url.
func (c *Client) Push(ctx context.Context, url string, img v1.Image) error {
	ref, err := c.reference(url)
	if err != nil {
		return err
	}
	opts, err := c.options(ctx)
	if err != nil {
		return err
	}
	return remote.Write(ref, img, opts...)
}

// Image is a resolved image: its manifest, not yet its layers.
type Image struct {
	// Digest is the hex sha256 of the image manifest (the child's, when
	// the URL named an index).
	Digest string
	// IndexDigest is the hex sha256 of the index the image was chosen
	// from, or "".
	IndexDigest string
	// Platform is the index entry's platform, when there was an index.
	Platform *v1.Platform
	img      v1.Image
}

// Resolve fetches the manifest url names; an index is resolved to its
// linux/amd64 entry, or to its only entry.
func (c *Client) Resolve(ctx context.Context, url string) (*Image, error) {
	desc, err := c.get(ctx, url)
	if err != nil {
		return nil, err
	}
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			return nil, fmt.Errorf("could not fetch image: %w", err)
		}
		img, entry, err := chooseFromIndex(idx)
		if err != nil {
			return nil, err
		}
		return &Image{Digest: entry.Digest.Hex, IndexDigest: desc.Digest.Hex, Platform: entry.Platform, img: img}, nil
	}
	img, err := desc.Image()
	if err != nil {
		return nil, fmt.Errorf("could not fetch image: %w", err)
	}
	return &Image{Digest: desc.Digest.Hex, img: img}, nil
}

// FromImage wraps an image read elsewhere (an OCI layout).
func FromImage(img v1.Image) (*Image, error) {
	d, err := img.Digest()
	if err != nil {
		return nil, err
	}
	return &Image{Digest: d.Hex, img: img}, nil
}

// Manifest is the image's manifest.
func (im *Image) Manifest() (*v1.Manifest, error) { return im.img.Manifest() }

// chooseFromIndex picks the image a Wasm index stands for: the
// linux/amd64 entry (the default platform of go-containerregistry, which
// Envoy Gateway uses), else the only image entry.
func chooseFromIndex(idx v1.ImageIndex) (v1.Image, v1.Descriptor, error) {
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, v1.Descriptor{}, fmt.Errorf("could not fetch image: %w", err)
	}
	var images []v1.Descriptor
	for _, d := range m.Manifests {
		if d.MediaType.IsImage() {
			images = append(images, d)
		}
	}
	pick := -1
	for i, d := range images {
		if d.Platform != nil && d.Platform.OS == "linux" && d.Platform.Architecture == "amd64" {
			pick = i
			break
		}
	}
	if pick < 0 && len(images) == 1 {
		pick = 0
	}
	if pick < 0 {
		var plats []string
		for _, d := range m.Manifests {
			p := "no platform"
			if d.Platform != nil {
				p = d.Platform.String()
			}
			plats = append(plats, fmt.Sprintf("%s (%s)", d.MediaType, p))
		}
		return nil, v1.Descriptor{}, fmt.Errorf("the image index has no linux/amd64 image and %d image entries, so none can be chosen: %s",
			len(images), strings.Join(plats, ", "))
	}
	img, err := idx.Image(images[pick].Digest)
	if err != nil {
		return nil, v1.Descriptor{}, fmt.Errorf("could not fetch image: %w", err)
	}
	return img, images[pick], nil
}
