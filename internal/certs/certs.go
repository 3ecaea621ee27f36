// Package certs makes and keeps the certificates the control plane and its
// proxies authenticate each other with: mutual TLS on the xDS port (and on
// the wasm port), as Envoy Gateway's certgen makes them for a cluster.
//
// One CA (common name "envoy-gateway") signs two key pairs, each kept as a
// bundle of ca.crt, tls.crt and tls.key, the shape of a kubernetes.io/tls
// Secret with its CA:
//
//   - "envoy-gateway", the control plane's: SANs envoy-gateway,
//     envoy-gateway.<ns>, envoy-gateway.<ns>.svc and
//     envoy-gateway.<ns>.svc.<cluster domain>. Proxies check the name
//     "envoy-gateway" whatever address they dial, as Envoy Gateway's
//     bootstrap does.
//   - "envoy", the proxies': SAN *.<ns>.
//
// On a host the bundles live in <dir>/envoy-gateway and <dir>/envoy (dir.go
// writes them so that a reader never sees a mixed pair); in a cluster they
// are the Secrets of the same names.
//
// Differences from Envoy Gateway's certgen, each a choice: keys are ECDSA
// P-256 rather than RSA 2048 (as strong, and generated in a millisecond);
// the CA's key is not kept, so renewing means a new CA and both pairs.
package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// Names of the bundles (and of the Secrets that hold them in a cluster).
const (
	// ControlPlane is the control plane's bundle, and the CA's common name.
	ControlPlane = "envoy-gateway"
	// Proxy is the proxies' bundle.
	Proxy = "envoy"
)

// Defaults of Options.
const (
	DefaultNamespace     = "envoy-gateway-system"
	DefaultClusterDomain = "cluster.local"
	DefaultValidity      = 5 * 365 * 24 * time.Hour
)

// Options parameterize Generate.
type Options struct {
	// Namespace is the control plane's namespace (names in the SANs).
	Namespace string
	// ClusterDomain is the cluster's DNS domain.
	ClusterDomain string
	// Validity is how long every certificate is valid from now.
	Validity time.Duration
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	if o.ClusterDomain == "" {
		o.ClusterDomain = DefaultClusterDomain
	}
	if o.Validity == 0 {
		o.Validity = DefaultValidity
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Bundle is one key pair with the CA that signed it, PEM encoded.
type Bundle struct {
	CA, Cert, Key []byte
}

// Set is what Generate makes: two bundles sharing one CA.
type Set struct {
	ControlPlane, Proxy Bundle
}

// ControlPlaneNames are the control plane certificate's DNS names.
func ControlPlaneNames(namespace, clusterDomain string) []string {
	return []string{
		ControlPlane,
		ControlPlane + "." + namespace,
		ControlPlane + "." + namespace + ".svc",
		ControlPlane + "." + namespace + ".svc." + clusterDomain,
	}
}

// Generate makes a new CA and the two bundles it signs.
func Generate(o Options) (*Set, error) {
	o = o.withDefaults()
	now := o.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: ControlPlane},
		NotBefore:             now.Add(-time.Hour), // tolerate clocks a little behind
		NotAfter:              now.Add(o.Validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := sign(caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		return nil, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	leaf := func(cn string, names []string) (Bundle, error) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return Bundle{}, err
		}
		ecdhKey, err := key.PublicKey.ECDH()
		if err != nil {
			return Bundle{}, err
		}
		// The control plane's leaf has the CA's subject (CN envoy-gateway,
		// as Envoy Gateway's certgen names both). Go then writes no
		// authority key identifier (it takes subject == issuer for
		// self-signed) and gives only CAs a subject key identifier; without
		// both, OpenSSL and BoringSSL (Envoy) take the leaf for
		// self-signed and refuse the chain.
		skid := sha1.Sum(ecdhKey.Bytes())
		tmpl := &x509.Certificate{
			Subject:        pkix.Name{CommonName: cn},
			SubjectKeyId:   skid[:],
			AuthorityKeyId: ca.SubjectKeyId,
			DNSNames:       names,
			NotBefore:      caTmpl.NotBefore,
			NotAfter:       caTmpl.NotAfter,
			KeyUsage:       x509.KeyUsageDigitalSignature,
			ExtKeyUsage:    []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		}
		der, err := sign(tmpl, ca, key.Public(), caKey)
		if err != nil {
			return Bundle{}, err
		}
		keyDER, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return Bundle{}, err
		}
		return Bundle{
			CA:   caPEM,
			Cert: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
			Key:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		}, nil
	}
	cp, err := leaf(ControlPlane, ControlPlaneNames(o.Namespace, o.ClusterDomain))
	if err != nil {
		return nil, err
	}
	px, err := leaf(Proxy, []string{"*." + o.Namespace})
	if err != nil {
		return nil, err
	}
	return &Set{ControlPlane: cp, Proxy: px}, nil
}

func sign(tmpl, parent *x509.Certificate, pub crypto.PublicKey, by crypto.Signer) ([]byte, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	return x509.CreateCertificate(rand.Reader, tmpl, parent, pub, by)
}

// Parsed is a checked bundle, ready for crypto/tls.
type Parsed struct {
	// Pair is the key pair (Leaf set).
	Pair tls.Certificate
	// Roots holds the CA.
	Roots *x509.CertPool
	// NotAfter is the earliest expiry of the CA and the certificate.
	NotAfter time.Time
}

// Parse checks that the key matches the certificate, that the CA signed it
// and that both are valid at now.
func (b Bundle) Parse(now time.Time) (*Parsed, error) {
	pair, err := tls.X509KeyPair(b.Cert, b.Key)
	if err != nil {
		return nil, fmt.Errorf("tls.crt and tls.key: %w", err)
	}
	roots := x509.NewCertPool()
	var ca *x509.Certificate
	for rest := b.CA; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("ca.crt: %w", err)
		}
		roots.AddCert(c)
		if ca == nil {
			ca = c
		}
	}
	if ca == nil {
		return nil, errors.New("ca.crt: no certificate")
	}
	leaf := pair.Leaf
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return nil, fmt.Errorf("tls.crt: %w", err)
	}
	return &Parsed{Pair: pair, Roots: roots, NotAfter: earliest(leaf.NotAfter, ca.NotAfter)}, nil
}

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
