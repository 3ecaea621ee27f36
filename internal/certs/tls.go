package certs

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// Source serves a bundle directory's current contents to TLS handshakes.
// It re-reads the directory when it changed (the ..data link moved, or a
// file's size or time stamp did), so certificates rotate without a
// restart: connections made after the swap use the new ones.
type Source struct {
	dir string

	mu      sync.Mutex
	stamp   string
	current *Parsed
}

// NewSource reads dir once; a missing or inconsistent bundle is an error.
func NewSource(dir string) (*Source, error) {
	s := &Source{dir: dir}
	if _, err := s.Get(); err != nil {
		return nil, err
	}
	return s, nil
}

// Dir is the directory served.
func (s *Source) Dir() string { return s.dir }

// Get returns the current bundle. When the directory changed and its new
// contents do not check out, the last good bundle is kept.
func (s *Source) Get() (*Parsed, error) {
	stamp := s.stampOf()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.current != nil && stamp == s.stamp {
		return s.current, nil
	}
	_, p, err := ReadBundle(s.dir)
	if err != nil {
		if s.current != nil {
			return s.current, nil
		}
		return nil, err
	}
	s.current, s.stamp = p, stamp
	return p, nil
}

// stampOf identifies the directory's contents cheaply: the ..data target
// when there is one, else the files' sizes and modification times.
func (s *Source) stampOf() string {
	if t, err := os.Readlink(filepath.Join(s.dir, dataLink)); err == nil {
		return t
	}
	var b []byte
	for _, name := range []string{CAFile, CertFile, KeyFile} {
		fi, err := os.Stat(filepath.Join(s.dir, name))
		if err != nil {
			return ""
		}
		b = fi.ModTime().AppendFormat(b, time.RFC3339Nano)
		b = strconv.AppendInt(append(b, '/'), fi.Size(), 10)
		b = append(b, ' ')
	}
	return string(b)
}

// ServerConfig is the TLS configuration of a server that only talks to
// clients holding a certificate the CA signed (the xDS and wasm ports).
func ServerConfig(src *Source) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			p, err := src.Get()
			if err != nil {
				return nil, err
			}
			return &tls.Config{
				MinVersion:   tls.VersionTLS12,
				Certificates: []tls.Certificate{p.Pair},
				ClientAuth:   tls.RequireAndVerifyClientCert,
				ClientCAs:    p.Roots,
				NextProtos:   []string{"h2"},
			}, nil
		},
	}
}

// ClientConfig is the TLS configuration of a client (a proxy) that shows
// its certificate and accepts only a server certificate for serverName
// signed by the CA. serverName is checked whatever address is dialed, as
// Envoy Gateway's bootstrap checks "envoy-gateway".
func ClientConfig(src *Source, serverName string) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		ServerName: serverName,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			p, err := src.Get()
			if err != nil {
				return nil, err
			}
			return &p.Pair, nil
		},
		// The CA may rotate, and tls.Config's RootCAs is fixed: the
		// chain is verified here, against the current CA, instead.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("the server sent no certificate")
			}
			p, err := src.Get()
			if err != nil {
				return err
			}
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			_, err = cs.PeerCertificates[0].Verify(x509.VerifyOptions{
				Roots: p.Roots, Intermediates: inter, DNSName: serverName,
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			})
			return err
		},
	}
}
