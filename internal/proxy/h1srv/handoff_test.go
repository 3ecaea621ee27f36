package h1srv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"net/http"
	"testing"
	"time"
)

// Plaintext HTTP/1 is served here; HTTP/2 with prior knowledge and TLS
// go to net/http through Other and a Handoff, as the proxy wires them.
func TestHandOff(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, ours := w.(*response)
		who := "net/http"
		if ours {
			who = "h1srv"
		}
		io.WriteString(w, who+" "+r.Proto)
	})
	serve := func(ln net.Listener) string {
		fwd := NewHandoff(ln.Addr())
		p := new(http.Protocols)
		p.SetHTTP1(true)
		p.SetHTTP2(true)
		p.SetUnencryptedHTTP2(true)
		std := &http.Server{Handler: h, Protocols: p}
		s := &Server{Handler: h, Other: fwd.Deliver}
		go std.Serve(fwd)
		go s.Serve(ln)
		t.Cleanup(func() {
			s.Close()
			std.Close()
			fwd.Close()
		})
		return ln.Addr().String()
	}
	get := func(c *http.Client, url string) string {
		t.Helper()
		resp, err := c.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}

	addr := serve(listen(t))
	h1 := &http.Client{Transport: &http.Transport{}, Timeout: 5 * time.Second}
	if got := get(h1, "http://"+addr+"/"); got != "h1srv HTTP/1.1" {
		t.Errorf("HTTP/1.1: %q", got)
	}
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	h2c := &http.Client{Transport: &http.Transport{Protocols: p}, Timeout: 5 * time.Second}
	for range 2 { // the second on the same connection
		if got := get(h2c, "http://"+addr+"/"); got != "net/http HTTP/2.0" {
			t.Errorf("h2c: %q", got)
		}
	}

	tlsAddr := serve(tls.NewListener(listen(t), &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}, NextProtos: []string{"h2", "http/1.1"}}))
	insecure := &tls.Config{InsecureSkipVerify: true}
	tls1 := &http.Client{Transport: &http.Transport{TLSClientConfig: insecure}, Timeout: 5 * time.Second}
	if got := get(tls1, "https://"+tlsAddr+"/"); got != "net/http HTTP/1.1" {
		t.Errorf("TLS: %q", got)
	}
	tls2 := &http.Client{Transport: &http.Transport{TLSClientConfig: insecure, ForceAttemptHTTP2: true}, Timeout: 5 * time.Second}
	if got := get(tls2, "https://"+tlsAddr+"/"); got != "net/http HTTP/2.0" {
		t.Errorf("TLS h2: %q", got)
	}
}

func selfSigned(t *testing.T) tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
