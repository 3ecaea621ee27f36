package proxy

import (
	"io"
	"net/http"
	"strings"
	"sync"
)

// upgradeSetting is a route's upgrade_configs entry for an upgrade type:
// absent (the HCM's upgrade_configs decide), enabled or disabled.
type upgradeSetting int8

const (
	upgradeUnset upgradeSetting = iota
	upgradeOn
	upgradeOff
)

// upgradeRequested is the protocol a request asks to switch to, as
// Envoy's Utility::isUpgrade reads it (an Upgrade header and "upgrade" in
// Connection), or "". An h2c upgrade is not one: Envoy's codec drops it
// and serves the request as HTTP/1.1.
func upgradeRequested(r *http.Request) string {
	up := r.Header["Upgrade"]
	if len(up) == 0 || r.ProtoMajor != 1 || strings.EqualFold(up[0], "h2c") || !hasToken(r.Header["Connection"], "upgrade") {
		return ""
	}
	return up[0]
}

// upgradeAllowed is Envoy's rule for an upgrade on the selected route:
// the route's own upgrade_configs entry for the type wins, enabled or
// not; without one the HCM's upgrade_configs decide (Envoy Gateway
// configures websocket on routes only). Only websocket can be configured
// (other types are NACKed), so any other type is refused.
func (st *reqState) upgradeAllowed(typ string) bool {
	if !strings.EqualFold(typ, "websocket") {
		return false
	}
	if a := st.rt.action; a != nil && a.websocket != upgradeUnset {
		return a.websocket == upgradeOn
	}
	return st.lr.hcm.websocket
}

// refuseUpgrade answers an upgrade the route does not allow as Envoy does:
// 403, and the connection closes, since what follows the head may be the
// other protocol's bytes (a smuggled request, for instance).
func (st *reqState) refuseUpgrade() {
	st.localReply(st.w, http.StatusForbidden, "", "upgrade_failed", func(h http.Header) { h.Set("Connection", "close") })
}

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
	// The route's timeout covered the upgrade, not the tunnel (Envoy
	// disarms it on the upgrade's response); the stream idle timeout
	// goes on, reset by bytes either way.
	t := st.w.timers
	t.routeDone()
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
		_, _ = io.Copy(up, activeReader{brw, t})
		up.Close()
	}()
	n, _ := io.Copy(conn, activeReader{up, t})
	st.w.bytes += n
	conn.Close()
	wg.Wait()
}

// activeReader records stream activity for the idle timeout.
type activeReader struct {
	r io.Reader
	t *streamTimers
}

func (a activeReader) Read(p []byte) (int, error) {
	n, err := a.r.Read(p)
	if n > 0 {
		a.t.touch()
	}
	return n, err
}
