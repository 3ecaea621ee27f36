// Package tcptest has the TCP, TLS and UDP backends of the tcp_proxy and
// udp_proxy tests (the proxy's own and the end-to-end ones): each names
// itself in what it sends, so a test sees which backend answered.
package tcptest

import (
	"crypto/tls"
	"io"
	"net"
	"testing"

	"github.com/portico-gw/portico/internal/proxy/tlsconf/tlstest"
)

// serve runs handle for each connection of ln until the test ends.
func serve(t testing.TB, ln net.Listener, handle func(net.Conn)) string {
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				handle(c)
			}()
		}
	}()
	return ln.Addr().String()
}

// Echo serves connections that send "name:" and then echo what they read,
// half-closing once the client has. It returns its address.
func Echo(t testing.TB, name string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serve(t, ln, func(c net.Conn) {
		_, _ = io.WriteString(c, name+":")
		_, _ = io.Copy(c, c)
		_ = c.(*net.TCPConn).CloseWrite()
	})
}

// TLSNamed is a TLS server with its own certificate for name, issued by
// ca, that answers each connection with "backend <name>\n".
func TLSNamed(t testing.TB, ca *tlstest.CA, name string) string {
	t.Helper()
	chain, key := ca.Leaf(t, name)
	cert, err := tls.X509KeyPair([]byte(chain), []byte(key))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	return serve(t, ln, func(c net.Conn) { _, _ = io.WriteString(c, "backend "+name+"\n") })
}

// UDPEcho answers each datagram with "name:" and the datagram.
func UDPEcho(t testing.TB, name string) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = pc.WriteTo(append([]byte(name+":"), buf[:n]...), from)
		}
	}()
	return pc.LocalAddr().String()
}
