package proxy

import (
	"io"
	"net/http"
	"sync"
)

// tunnel finishes a websocket upgrade: the 101 goes downstream, then bytes
// flow both ways until either side closes. Only HTTP/1.1 downstreams can be
// hijacked; others get 503 like a failed upgrade.
func (st *reqState) tunnel(w http.ResponseWriter, resp *http.Response) {
	up, ok := resp.Body.(io.ReadWriteCloser)
	if !ok {
		st.flags = "UPE"
		st.localReply(w, http.StatusBadGateway, "", "upgrade_failed", nil)
		return
	}
	defer up.Close()
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		st.localReply(w, http.StatusServiceUnavailable, "", "upgrade_failed", nil)
		return
	}
	defer conn.Close()
	st.w.code = resp.StatusCode
	_, _ = io.WriteString(brw, "HTTP/1.1 101 Switching Protocols\r\n")
	_ = w.Header().Write(brw)
	_, _ = io.WriteString(brw, "\r\n")
	_ = brw.Flush()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		// Bytes the client already sent sit in brw's reader.
		_, _ = io.Copy(up, brw)
		up.Close()
	}()
	n, _ := io.Copy(conn, up)
	st.w.bytes += n
	conn.Close()
	wg.Wait()
}
