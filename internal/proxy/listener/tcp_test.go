package listener

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"testing"
	"time"
)

// bytesConn is a connection whose peer sent data and then half-closed;
// what is written to it is kept.
type bytesConn struct {
	net.Conn
	r       *bytes.Reader
	written bytes.Buffer
}

func (c *bytesConn) Read(p []byte) (int, error)         { return c.r.Read(p) }
func (c *bytesConn) Write(p []byte) (int, error)        { return c.written.Write(p) }
func (c *bytesConn) SetReadDeadline(time.Time) error    { return nil }
func (c *bytesConn) Close() error                       { return nil }
func (c *bytesConn) LocalAddr() net.Addr                { return &net.TCPAddr{} }
func (c *bytesConn) RemoteAddr() net.Addr               { return &net.TCPAddr{} }
func (c *bytesConn) SetDeadline(time.Time) error        { return nil }
func (c *bytesConn) SetWriteDeadline(t time.Time) error { return nil }

// clientHello is the first flight of a real TLS client for sni.
func clientHello(t testing.TB, sni string) []byte {
	t.Helper()
	a, b := net.Pipe()
	go func() {
		_ = tls.Client(a, &tls.Config{ServerName: sni, InsecureSkipVerify: true}).Handshake()
	}()
	_ = b.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64<<10)
	n, _ := b.Read(buf)
	a.Close()
	b.Close()
	return buf[:n]
}

// The peeked connection replays every byte the inspector read, whatever
// they were, and the SNI is the ClientHello's; nothing is written back.
func FuzzPeekServerName(f *testing.F) {
	f.Add(clientHello(f, "a.example.com"))
	f.Add(clientHello(f, ""))
	f.Add([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	f.Add([]byte{0x16, 0x03, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		c := &bytesConn{r: bytes.NewReader(data)}
		sni, conn, err := peekServerName(c, time.Second)
		if len(data) == 0 {
			if err == nil || conn == nil {
				t.Fatal("no data must be an error, with a connection to go on with")
			}
			return
		}
		if err != nil {
			t.Fatalf("peek: %v", err)
		}
		got, _ := io.ReadAll(conn)
		if !bytes.Equal(got, data) {
			t.Fatalf("replayed %q, sent %q", got, data)
		}
		if c.written.Len() > 0 {
			t.Fatalf("the inspector wrote %d bytes to the client", c.written.Len())
		}
		if sni != "" && !bytes.Contains(data, []byte(sni)) {
			t.Fatalf("SNI %q is not in the ClientHello", sni)
		}
	})
}

func TestPeekServerNameReadsSNI(t *testing.T) {
	for _, sni := range []string{"a.example.com", ""} {
		sniGot, _, err := peekServerName(&bytesConn{r: bytes.NewReader(clientHello(t, sni))}, time.Second)
		if err != nil || sniGot != sni {
			t.Errorf("got %q, %v; want %q", sniGot, err, sni)
		}
	}
}
