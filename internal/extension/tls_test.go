package extension

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
	"github.com/portico-gw/portico/internal/xds/translator"
	pb "github.com/portico-gw/portico/proto/extension"
)

type pki struct {
	caPEM []byte
	ca    *x509.Certificate
	key   *ecdsa.PrivateKey
	pool  *x509.CertPool
}

func newPKI(t *testing.T) *pki {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &pki{caPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), ca: ca, key: key, pool: pool}
}

// issue returns a PEM certificate and key for name (server and client use).
func (p *pki) issue(t *testing.T, name string, serial int64) (certPEM, keyPEM []byte) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
		DNSNames: []string{name}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.key)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalECPrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd})
}

func TestTLSAndMTLS(t *testing.T) {
	p := newPKI(t)
	srvCert, srvKey := p.issue(t, "ext.example.com", 2)
	cliCert, cliKey := p.issue(t, "portico", 3)
	pair, err := tls.X509KeyPair(srvCert, srvKey)
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[string]map[string][]byte{
		"envoy-gateway-system/ca":     {"tls.crt": p.caPEM},
		"envoy-gateway-system/client": {"tls.crt": cliCert, "tls.key": cliKey},
	}
	lookup := func(ns, name string) (map[string][]byte, error) {
		if d, ok := secrets[ns+"/"+name]; ok {
			return d, nil
		}
		return nil, fmt.Errorf("no secret %s/%s", ns, name)
	}
	for _, mtls := range []bool{false, true} {
		tc := &tls.Config{Certificates: []tls.Certificate{pair}}
		if mtls {
			tc.ClientAuth, tc.ClientCAs = tls.RequireAndVerifyClientCert, p.pool
		}
		svc := serveTCP(t, &fakeServer{route: func(r *pb.PostRouteModifyRequest) (*pb.PostRouteModifyResponse, error) {
			addHeader(r.Route, "tls")
			return &pb.PostRouteModifyResponse{Route: r.Route}, nil
		}}, grpc.Creds(credentials.NewTLS(tc)))
		host := "ext.example.com"
		svc.Hostname = &host
		svc.TLS = &egv1a1.ExtensionTLS{CertificateRef: gwapiv1.SecretObjectReference{Name: "ca"}}
		run := func(svc *egv1a1.ExtensionService) error {
			m := newManager(t, Options{Secret: lookup, CallTimeout: time.Second},
				&egv1a1.ExtensionManager{Service: svc, Hooks: hooksOf(egv1a1.XDSRoute)})
			x := fixture(1)
			res := translateFixture(t, x)
			if err := translator.ApplyHooks(context.Background(), x, res, m); err != nil {
				return err
			}
			if headers(routesOf(res)[0]) != "tls" {
				return fmt.Errorf("route unchanged")
			}
			return nil
		}
		if mtls {
			if err := run(svc); err == nil {
				t.Error("mTLS server accepted a client without a certificate")
			}
			svc.TLS.ClientCertificateRef = &gwapiv1.SecretObjectReference{Name: "client"}
		}
		if err := run(svc); err != nil {
			t.Errorf("mtls=%v: %v", mtls, err)
		}
	}
	// A server certificate from another CA is refused.
	other := newPKI(t)
	oc, ok := other.issue(t, "ext.example.com", 4)
	pair2, _ := tls.X509KeyPair(oc, ok)
	lis, _ := net.Listen("tcp", "127.0.0.1:0")
	s := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{pair2}})))
	pb.RegisterEnvoyGatewayExtensionServer(s, &fakeServer{})
	go func() { _ = s.Serve(lis) }()
	defer s.Stop()
	host := "ext.example.com"
	svc := &egv1a1.ExtensionService{Hostname: &host, IP: &egv1a1.IPEndpoint{Address: "127.0.0.1", Port: int32(lis.Addr().(*net.TCPAddr).Port)},
		TLS: &egv1a1.ExtensionTLS{CertificateRef: gwapiv1.SecretObjectReference{Name: "ca"}}}
	m := newManager(t, Options{Secret: lookup, CallTimeout: time.Second}, &egv1a1.ExtensionManager{Service: svc, Hooks: hooksOf(egv1a1.XDSRoute)})
	x := fixture(1)
	if err := translator.ApplyHooks(context.Background(), x, translateFixture(t, x), m); err == nil {
		t.Error("a server certificate from an unknown CA was trusted")
	}
}
