package certs

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func generate(t *testing.T, o Options) *Set {
	t.Helper()
	s, err := Generate(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestGenerateNamesAsEnvoyGatewayCertgen(t *testing.T) {
	s := generate(t, Options{Namespace: "gw-system", ClusterDomain: "example.internal"})
	cp, err := s.ControlPlane.Parse(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	px, err := s.Proxy.Parse(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ca := mustParsePEM(t, s.ControlPlane.CA)
	if ca.Subject.CommonName != "envoy-gateway" || !ca.IsCA {
		t.Errorf("CA = %q (IsCA %v), want CN envoy-gateway", ca.Subject.CommonName, ca.IsCA)
	}
	wantCP := []string{"envoy-gateway", "envoy-gateway.gw-system", "envoy-gateway.gw-system.svc", "envoy-gateway.gw-system.svc.example.internal"}
	if got := cp.Pair.Leaf.DNSNames; !slices.Equal(got, wantCP) {
		t.Errorf("control plane SANs = %v, want %v", got, wantCP)
	}
	if got := px.Pair.Leaf.DNSNames; !slices.Equal(got, []string{"*.gw-system"}) {
		t.Errorf("proxy SANs = %v, want [*.gw-system]", got)
	}
	if !bytes.Equal(s.ControlPlane.CA, s.Proxy.CA) {
		t.Error("the bundles do not share their CA")
	}
	def := generate(t, Options{})
	p, _ := def.ControlPlane.Parse(time.Now())
	if got := p.Pair.Leaf.DNSNames[3]; got != "envoy-gateway.envoy-gateway-system.svc.cluster.local" {
		t.Errorf("default FQDN = %q", got)
	}
}

func mustParsePEM(t *testing.T, b []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatal("no PEM block")
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestParseRefusesMismatches(t *testing.T) {
	a, b := generate(t, Options{}), generate(t, Options{})
	for name, bad := range map[string]Bundle{
		"key of another pair":   {CA: a.Proxy.CA, Cert: a.Proxy.Cert, Key: a.ControlPlane.Key},
		"signed by another CA":  {CA: a.Proxy.CA, Cert: b.Proxy.Cert, Key: b.Proxy.Key},
		"no CA":                 {Cert: a.Proxy.Cert, Key: a.Proxy.Key},
		"truncated certificate": {CA: a.Proxy.CA, Cert: a.Proxy.Cert[:40], Key: a.Proxy.Key},
	} {
		if _, err := bad.Parse(time.Now()); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
	if _, err := a.Proxy.Parse(time.Now().Add(6 * 365 * 24 * time.Hour)); err == nil {
		t.Error("an expired bundle parsed")
	}
}

func TestWriteBundleModesAndSwap(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "envoy")
	first, second := generate(t, Options{}), generate(t, Options{})
	if err := WriteBundle(dir, first.Proxy); err != nil {
		t.Fatal(err)
	}
	src, err := NewSource(dir)
	if err != nil {
		t.Fatal(err)
	}
	p1, _ := src.Get()
	if err := WriteBundle(dir, second.Proxy); err != nil {
		t.Fatal(err)
	}
	got, _, err := ReadBundle(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Cert, second.Proxy.Cert) {
		t.Fatal("ReadBundle did not return the second bundle")
	}
	p2, _ := src.Get()
	if p2 == p1 || !bytes.Equal(p2.Pair.Certificate[0], mustPair(t, second.Proxy).Certificate[0]) {
		t.Error("the Source did not pick up the new bundle")
	}
	mode := func(name string) os.FileMode {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return fi.Mode().Perm()
	}
	if m := mode(KeyFile); m != 0o600 {
		t.Errorf("tls.key mode %v, want 0600", m)
	}
	if m := mode("."); m != 0o700 {
		t.Errorf("directory mode %v, want 0700", m)
	}
	// Only the current data directory is left.
	entries, _ := os.ReadDir(dir)
	var data []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "..data-") {
			data = append(data, e.Name())
		}
	}
	if len(data) != 1 {
		t.Errorf("data directories left: %v", data)
	}
}

func mustPair(t *testing.T, b Bundle) tls.Certificate {
	t.Helper()
	p, err := b.Parse(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return p.Pair
}

func TestSourceKeepsLastGoodOnBadRewrite(t *testing.T) {
	dir := t.TempDir()
	s := generate(t, Options{})
	if err := WriteBundle(dir, s.Proxy); err != nil {
		t.Fatal(err)
	}
	src, err := NewSource(dir)
	if err != nil {
		t.Fatal(err)
	}
	good, _ := src.Get()
	// A plain (non-atomic) overwrite with a key that does not match.
	other := generate(t, Options{})
	if err := WriteBundle(dir, Bundle{CA: s.Proxy.CA, Cert: s.Proxy.Cert, Key: other.Proxy.Key}); err != nil {
		t.Fatal(err)
	}
	got, err := src.Get()
	if err != nil || got != good {
		t.Fatalf("Get after a bad rewrite = %v, %v; want the last good bundle", got, err)
	}
	if _, err := NewSource(filepath.Join(dir, "missing")); err == nil {
		t.Error("NewSource of a missing directory succeeded")
	}
}

func TestEnsureGeneratesOnceAndRenews(t *testing.T) {
	root := t.TempDir()
	gen, err := Ensure(root, Options{})
	if err != nil || !gen {
		t.Fatalf("first Ensure = %v, %v; want a new set", gen, err)
	}
	before, _, _ := ReadBundle(filepath.Join(root, Proxy))
	if gen, err := Ensure(root, Options{}); err != nil || gen {
		t.Fatalf("second Ensure = %v, %v; want the set kept", gen, err)
	}
	// Expiring within 30 days: renewed.
	soon := func() time.Time { return time.Now().Add(DefaultValidity - 10*24*time.Hour) }
	if gen, err := Ensure(root, Options{Now: soon}); err != nil || !gen {
		t.Fatalf("Ensure near expiry = %v, %v; want a new set", gen, err)
	}
	// Bundles from different sets (one replaced by hand): renewed.
	stray := generate(t, Options{})
	if err := WriteBundle(filepath.Join(root, Proxy), stray.Proxy); err != nil {
		t.Fatal(err)
	}
	if gen, err := Ensure(root, Options{}); err != nil || !gen {
		t.Fatalf("Ensure with mixed CAs = %v, %v; want a new set", gen, err)
	}
	after, _, _ := ReadBundle(filepath.Join(root, Proxy))
	if bytes.Equal(before.CA, after.CA) {
		t.Error("the CA was not renewed")
	}
	cp, _, _ := ReadBundle(filepath.Join(root, ControlPlane))
	if !bytes.Equal(cp.CA, after.CA) {
		t.Error("the renewed bundles do not share a CA")
	}
}

// handshake runs a TLS handshake between server and client configs over
// an in-memory connection; the server then writes "ok", which the client
// reads. It returns the client's and the server's errors.
func handshake(server, client *tls.Config) (error, error) {
	c1, c2 := net.Pipe()
	srvErr := make(chan error, 1)
	go func() {
		s := tls.Server(c1, server)
		err := s.Handshake()
		if err == nil {
			if _, err = s.Write([]byte("ok")); err == nil {
				_, err = io.Copy(io.Discard, s) // until the client closes
			}
		}
		c1.Close()
		srvErr <- err
	}()
	c := tls.Client(c2, client)
	err := c.Handshake()
	if err == nil {
		// TLS 1.3: the server judges the client's certificate after the
		// client's handshake returns; the read sees its verdict.
		buf := make([]byte, 2)
		if _, err = io.ReadFull(c, buf); err == nil && string(buf) != "ok" {
			err = fmt.Errorf("read %q", buf)
		}
	}
	c.Close()
	return err, <-srvErr
}

func TestMutualTLS(t *testing.T) {
	source := func(root, name string) *Source {
		t.Helper()
		s, err := NewSource(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	root, otherRoot := t.TempDir(), t.TempDir()
	for _, r := range []string{root, otherRoot} {
		if _, err := Ensure(r, Options{}); err != nil {
			t.Fatal(err)
		}
	}
	server := ServerConfig(source(root, ControlPlane))
	good := ClientConfig(source(root, Proxy), ControlPlane)
	if cliErr, srvErr := handshake(server, good); cliErr != nil || srvErr != nil {
		t.Fatalf("proxy bundle: client %v, server %v", cliErr, srvErr)
	}
	cpCA, _ := source(root, ControlPlane).Get()
	stranger, _ := source(otherRoot, Proxy).Get()
	for name, client := range map[string]*tls.Config{
		"no certificate": {RootCAs: cpCA.Roots, ServerName: ControlPlane},
		// Trusts the server, but its own pair comes from another CA.
		"another CA's certificate": {RootCAs: cpCA.Roots, ServerName: ControlPlane, Certificates: []tls.Certificate{stranger.Pair}},
	} {
		if _, srvErr := handshake(server, client); srvErr == nil {
			t.Errorf("%s: the server accepted the client", name)
		}
	}
	if cliErr, _ := handshake(ServerConfig(source(otherRoot, ControlPlane)), good); cliErr == nil {
		t.Error("the client accepted a server signed by another CA")
	}
	if cliErr, _ := handshake(server, ClientConfig(source(root, Proxy), "not-envoy-gateway")); cliErr == nil {
		t.Error("the client accepted a server certificate for another name")
	}
}

// TestChainVerifiesWithOpenSSL: the control plane's leaf shares the CA's
// subject, so a verifier that pairs certificates by name and key
// identifier (OpenSSL; BoringSSL in Envoy) must still see two certificates.
// Go's verifier tolerates what OpenSSL refuses, hence the real openssl.
func TestChainVerifiesWithOpenSSL(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl is not installed")
	}
	set, err := Generate(Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(ca, set.ControlPlane.CA, 0o644); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string]Bundle{ControlPlane: set.ControlPlane, Proxy: set.Proxy} {
		leaf := filepath.Join(dir, name+".crt")
		if err := os.WriteFile(leaf, b.Cert, 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(openssl, "verify", "-CAfile", ca, leaf).CombinedOutput(); err != nil {
			t.Errorf("%s: openssl verify: %v\n%s", name, err, out)
		}
	}
}
