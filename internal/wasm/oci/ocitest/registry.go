// Package ocitest runs go-containerregistry's in-process registry on
// loopback for tests, with what a test of a real deployment needs: basic
// authentication, a registry that goes down and comes back on the same
// port, one that answers 500 or never answers, and counts of what was
// pulled.
package ocitest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"io"
	"log"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Mode is how the registry answers.
type Mode int32

// Modes.
const (
	Serve Mode = iota
	Fail500
	Hang
)

// Registry is an in-process registry on 127.0.0.1.
type Registry struct {
	// Host is host:port, stable across Stop and Start.
	Host string

	handler http.Handler
	mode    atomic.Int32
	user    atomic.Value // string
	pass    atomic.Value // string

	manifestGets, blobGets, bytes atomic.Int64

	mu   sync.Mutex
	srv  *http.Server
	hang chan struct{}
}

// New starts a registry; user, when not empty, requires basic auth.
func New(t testing.TB, user, password string) *Registry {
	t.Helper()
	r := &Registry{handler: registry.New(registry.Logger(log.New(io.Discard, "", 0))), hang: make(chan struct{})}
	r.user.Store(user)
	r.pass.Store(password)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.Host = l.Addr().String()
	r.serve(l)
	t.Cleanup(func() {
		r.Stop()
		r.mu.Lock()
		select {
		case <-r.hang:
		default:
			close(r.hang)
		}
		r.mu.Unlock()
	})
	return r
}

func (r *Registry) serve(l net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(r.serveHTTP)}
	r.mu.Lock()
	r.srv = srv
	r.mu.Unlock()
	go func() { _ = srv.Serve(l) }()
}

// Stop closes the registry's port: clients get connection refused.
func (r *Registry) Stop() {
	r.mu.Lock()
	srv := r.srv
	r.srv = nil
	r.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

// Start serves again on the same port, with the same content.
func (r *Registry) Start(t testing.TB) {
	t.Helper()
	l, err := net.Listen("tcp", r.Host)
	if err != nil {
		t.Fatal(err)
	}
	r.serve(l)
}

// SetMode changes how the registry answers.
func (r *Registry) SetMode(m Mode) { r.mode.Store(int32(m)) }

// SetPassword changes the password the registry accepts.
func (r *Registry) SetPassword(p string) { r.pass.Store(p) }

// Pulled returns the manifest and blob GETs served and the bytes of their
// bodies.
func (r *Registry) Pulled() (manifests, blobs, bytes int64) {
	return r.manifestGets.Load(), r.blobGets.Load(), r.bytes.Load()
}

// ResetCounts zeroes Pulled's counts.
func (r *Registry) ResetCounts() {
	r.manifestGets.Store(0)
	r.blobGets.Store(0)
	r.bytes.Store(0)
}

func (r *Registry) serveHTTP(w http.ResponseWriter, req *http.Request) {
	switch Mode(r.mode.Load()) {
	case Fail500:
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, "registry unavailable")
		return
	case Hang:
		select {
		case <-req.Context().Done():
		case <-r.hang:
		}
		return
	}
	if user := r.user.Load().(string); user != "" && !r.authorized(req, user) {
		w.Header().Set("WWW-Authenticate", `Basic realm="portico-test"`)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}`)
		return
	}
	if req.Method == http.MethodGet {
		switch {
		case strings.Contains(req.URL.Path, "/manifests/"):
			r.manifestGets.Add(1)
		case strings.Contains(req.URL.Path, "/blobs/"):
			r.blobGets.Add(1)
		}
	}
	r.handler.ServeHTTP(&counting{ResponseWriter: w, n: &r.bytes}, req)
}

func (r *Registry) authorized(req *http.Request, user string) bool {
	h := req.Header.Get("Authorization")
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(h, "Basic "))
	return err == nil && strings.HasPrefix(h, "Basic ") && string(raw) == user+":"+r.pass.Load().(string)
}

type counting struct {
	http.ResponseWriter
	n *atomic.Int64
}

// Write counts before writing: a client that has read the bytes finds
// them counted.
func (c *counting) Write(b []byte) (int, error) {
	c.n.Add(int64(len(b)))
	return c.ResponseWriter.Write(b)
}

// Push writes img at repo:tag (a path under the registry) and returns its
// manifest digest.
func (r *Registry) Push(t testing.TB, repoTag string, img v1.Image) string {
	t.Helper()
	ref, auth := r.target(t, repoTag)
	if err := remote.Write(ref, img, remote.WithAuth(auth)); err != nil {
		t.Fatal(err)
	}
	return digest(t, img)
}

// PushIndex writes an index at repo:tag.
func (r *Registry) PushIndex(t testing.TB, repoTag string, idx v1.ImageIndex) string {
	t.Helper()
	ref, auth := r.target(t, repoTag)
	if err := remote.WriteIndex(ref, idx, remote.WithAuth(auth)); err != nil {
		t.Fatal(err)
	}
	return digest(t, idx)
}

func (r *Registry) target(t testing.TB, repoTag string) (name.Reference, authn.Authenticator) {
	t.Helper()
	ref, err := name.ParseReference(r.Host + "/" + repoTag)
	if err != nil {
		t.Fatal(err)
	}
	if user := r.user.Load().(string); user != "" {
		return ref, &authn.Basic{Username: user, Password: r.pass.Load().(string)}
	}
	return ref, authn.Anonymous
}

func digest(t testing.TB, m interface{ Digest() (v1.Hash, error) }) string {
	t.Helper()
	d, err := m.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.Hex
}

// TarGz is a gzipped tar of the given files, as an image layer holds them.
func TarGz(files map[string][]byte) []byte {
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		_ = tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(files[n])), Typeflag: tar.TypeReg})
		_, _ = tw.Write(files[n])
	}
	_ = tw.Close()
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	_, _ = zw.Write(tb.Bytes())
	_ = zw.Close()
	return gz.Bytes()
}

// DockerConfig is a .dockerconfigjson with user:password for the registry.
func (r *Registry) DockerConfig(user, password string) string {
	auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
	return `{"auths":{"` + r.Host + `":{"auth":"` + auth + `"}}}`
}
