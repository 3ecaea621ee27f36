package hcm

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/portico-gw/portico/internal/proxy/cluster"
	"github.com/portico-gw/portico/internal/proxy/route"
)

// Request mirroring: the sending side of route.MirrorPolicy (which says
// what Envoy does that Portico keeps).

// maxMirrorBody is the most request body a mirror copy carries, Envoy's
// default per-connection buffer limit.
const maxMirrorBody = maxRetryBuffer

// mirrorTarget is a mirror chosen for this request, with its slot taken.
type mirrorTarget struct {
	c        *cluster.Cluster
	keepHost bool
}

// mirror starts the copies of out (the upstream request, before its first
// attempt) for the route's mirror policies. body is the request body when
// the router already buffered it (retries); otherwise, when there is a
// body, out.Body is wrapped so that the copies leave once the primary has
// read the whole body: the primary is never delayed by the mirror.
func (st *reqState) mirror(out *http.Request, body []byte, policies []route.MirrorPolicy, timeout time.Duration) {
	var targets []mirrorTarget
	for i := range policies {
		p := &policies[i]
		if !p.Sampled() {
			continue
		}
		name := p.Cluster
		if p.ClusterHeader != "" {
			name = out.Header.Get(p.ClusterHeader)
		}
		c := st.lr.clusters[name]
		if c == nil || !c.Acquire() {
			// An unknown mirror cluster or a full one drops the copy;
			// the primary request is not concerned.
			continue
		}
		targets = append(targets, mirrorTarget{c: c, keepHost: p.KeepHost})
	}
	if len(targets) == 0 {
		return
	}
	// The attempt loop mutates out (attempt counts, forwarded host, auto
	// host rewrite) while copies may still be leaving, so they take a
	// snapshot of what they need now.
	u := *out.URL
	snap := &http.Request{Method: out.Method, URL: &u, Host: out.Host, Header: out.Header.Clone(), ProtoMajor: out.ProtoMajor}
	ctx := context.WithoutCancel(out.Context())
	send := func(b []byte, ok bool) {
		for _, t := range targets {
			if !ok {
				t.c.Release()
				continue
			}
			go sendMirror(ctx, t, snap, b, timeout)
		}
	}
	switch {
	case body != nil:
		send(body, true)
	case out.Body == nil || out.Body == http.NoBody || out.ContentLength == 0:
		send(nil, true)
	case out.ContentLength > maxMirrorBody:
		send(nil, false)
	default:
		out.Body = &mirrorTee{ReadCloser: out.Body, fire: send}
	}
}

// sendMirror sends one copy of out (a snapshot, shared by the copies, so
// read only) and discards the answer. It owns t's slot.
func sendMirror(ctx context.Context, t mirrorTarget, out *http.Request, body []byte, timeout time.Duration) {
	defer t.c.Release()
	h := t.c.Pick()
	if h == nil {
		return
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	req := &http.Request{
		Method:        out.Method,
		URL:           h.URL(out.URL),
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        out.Header.Clone(), // the transport may add to it
		Host:          out.Host,
		ContentLength: int64(len(body)),
	}
	if !t.keepHost {
		req.Host = route.ShadowHost(out.Host)
	}
	if len(body) > 0 {
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	req = req.WithContext(ctx)
	h2 := t.c.UsesH2(out.ProtoMajor)
	h.RequestStarted()
	defer h.RequestDone()
	resp, err := h.Transport(h2).RoundTrip(req)
	if err != nil {
		if ctx.Err() == nil {
			t.c.Report(h, http.StatusServiceUnavailable)
		} else {
			t.c.Report(h, http.StatusGatewayTimeout)
		}
		return
	}
	t.c.Report(h, resp.StatusCode)
	// Draining a bounded amount lets the connection be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}

// mirrorTee copies the primary's request body as the upstream transport
// reads it; at EOF the copies leave with the whole body. A body over the
// limit, or one the primary stops reading (Close before EOF), abandons the
// copies. The transport may call Close from another goroutine than Read,
// so only Read touches buf; once guards the single outcome.
type mirrorTee struct {
	io.ReadCloser
	buf  []byte
	over bool
	once sync.Once
	fire func(body []byte, ok bool)
}

func (t *mirrorTee) Read(p []byte) (int, error) {
	n, err := t.ReadCloser.Read(p)
	if n > 0 && !t.over {
		if len(t.buf)+n > maxMirrorBody {
			t.over, t.buf = true, nil
		} else {
			t.buf = append(t.buf, p[:n]...)
		}
	}
	if err == io.EOF {
		b, ok := t.buf, !t.over
		t.once.Do(func() { t.fire(b, ok) })
	}
	return n, err
}

func (t *mirrorTee) Close() error {
	t.once.Do(func() { t.fire(nil, false) })
	return t.ReadCloser.Close()
}
