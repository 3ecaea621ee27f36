package hcm

import (
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portico-gw/portico/internal/proxy/stats"
	"github.com/portico-gw/portico/internal/proxy/streaminfo"
)

// Envoy's defence against HTTP/2 rapid reset (CVE-2023-44487): a
// connection most of whose streams the client reset prematurely is
// closed. The thresholds are Envoy's runtime defaults: the check starts
// once overload.premature_reset_total_stream_count (500) streams have
// closed on the connection, and closes it when at least half of them were
// premature; a stream is premature when it lived no more than
// overload.premature_reset_min_stream_lifetime_seconds (1, compared in
// whole seconds as Envoy does) and no response status was sent.
const (
	prematureResetTotalStreamCount     = 500
	prematureResetMinStreamLifetimeSec = 1
)

// ConnStreams is one downstream connection's stream accounting for the
// premature reset check. The listener attaches it to the connection's
// context (WithConnStreams); streams end on their own goroutines.
type ConnStreams struct {
	conn      io.Closer
	closed    atomic.Uint64
	premature atomic.Uint64
	once      sync.Once
}

type connStreamsKey struct{}

// WithConnStreams attaches accounting for the connection c to ctx, the
// base context of its requests (http.Server.ConnContext).
func WithConnStreams(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connStreamsKey{}, &ConnStreams{conn: c})
}

// prematureReset is Envoy's isPrematureRstStream for a stream that ended
// at end: short-lived and no response status sent.
func prematureReset(info *streaminfo.StreamInfo, end time.Time) bool {
	return info.ResponseCode == 0 && int64(end.Sub(info.Start)/time.Second) <= prematureResetMinStreamLifetimeSec
}

// streamClosed accounts for one HTTP/2 stream of the connection and
// closes the connection when too many of its streams were reset
// prematurely (Envoy aborts the connection), counting the close on
// tooMany (http.<prefix>.downstream_rq_too_many_premature_resets).
func (c *ConnStreams) streamClosed(premature bool, tooMany *stats.Counter) {
	n := c.closed.Add(1)
	p := c.premature.Load()
	if premature {
		p = c.premature.Add(1)
	}
	if n < prematureResetTotalStreamCount || 2*p < n {
		return
	}
	c.once.Do(func() {
		tooMany.Inc()
		_ = c.conn.Close()
	})
}

// finish ends a stream: it feeds the connection's premature reset check
// and writes the access log, rate-limited for premature resets so that a
// reset flood cannot turn into a flood of log writes.
func (st *reqState) finish(r *http.Request) {
	st.lr.cfg.stats.request(st.info.ResponseCode)
	// The clock is read only for a stream without a response status.
	premature := st.info.ResponseCode == 0 && prematureReset(&st.info, time.Now())
	if r.ProtoMajor == 2 {
		if cs, _ := r.Context().Value(connStreamsKey{}).(*ConnStreams); cs != nil {
			cs.streamClosed(premature, st.lr.cfg.stats.tooManyPrematureResets)
		}
	}
	if premature {
		st.lr.log.LogLimited(&st.info, st.lr.cfg.logs)
		return
	}
	st.lr.log.Log(&st.info, st.lr.cfg.logs)
}
