package proxy

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
)

// Request mirroring (RouteAction.request_mirror_policies), with Envoy's
// observable behaviour:
//   - the copy goes to the mirror cluster fire-and-forget: the primary
//     response never waits for it and the mirror's answer is discarded;
//   - the copy carries the request as sent upstream (after header
//     mutations and host rewrites), with "-shadow" appended to the host
//     part of the authority unless disable_shadow_host_suffix_append;
//   - the copy carries the body only when it fits the buffer limit; a larger
//     body abandons the mirror (Envoy counts retry_or_shadow_abandoned)
//     rather than holding up or failing the primary;
//   - runtime_fraction's default_value samples the share of requests that
//     are mirrored (runtime keys are ignored: there is no runtime here);
//   - the mirror's circuit breakers bound the copies in flight, and the
//     route's timeout bounds each one.

// maxMirrorBody is the most request body a mirror copy carries, Envoy's
// default per-connection buffer limit.
const maxMirrorBody = maxRetryBuffer

// mirrorPolicy is one compiled request_mirror_policies entry.
type mirrorPolicy struct {
	cluster       string
	clusterHeader string // lower-case; the mirror cluster is named by this request header
	numerator     uint64
	denominator   uint64 // 0: every request
	keepHost      bool   // disable_shadow_host_suffix_append
}

func compileMirrors(ps []*routev3.RouteAction_RequestMirrorPolicy, clusters map[string]bool) ([]mirrorPolicy, error) {
	var out []mirrorPolicy
	for i, p := range ps {
		// trace_sampled only affects tracing, which the proxy does not do.
		if err := checkFields(fmt.Sprintf("request_mirror_policies[%d]", i), p, "cluster", "cluster_header",
			"runtime_fraction", "trace_sampled", "disable_shadow_host_suffix_append"); err != nil {
			return nil, err
		}
		m := mirrorPolicy{cluster: p.GetCluster(), clusterHeader: strings.ToLower(p.GetClusterHeader()),
			keepHost: p.GetDisableShadowHostSuffixAppend()}
		if (m.cluster == "") == (m.clusterHeader == "") {
			return nil, fmt.Errorf("request_mirror_policies[%d]: exactly one of cluster and cluster_header must be set", i)
		}
		if m.cluster != "" {
			clusters[m.cluster] = true
		}
		if rf := p.GetRuntimeFraction(); rf != nil {
			// A runtime fraction without a default value is 0% in Envoy.
			dv := rf.GetDefaultValue()
			m.numerator = uint64(dv.GetNumerator())
			switch dv.GetDenominator() {
			case typev3.FractionalPercent_HUNDRED:
				m.denominator = 100
			case typev3.FractionalPercent_TEN_THOUSAND:
				m.denominator = 10_000
			case typev3.FractionalPercent_MILLION:
				m.denominator = 1_000_000
			default:
				return nil, fmt.Errorf("request_mirror_policies[%d]: unknown denominator %v", i, dv.GetDenominator())
			}
			if m.numerator >= m.denominator {
				m.denominator = 0 // 100% or more: always
			}
		}
		out = append(out, m)
	}
	return out, nil
}

// sampled decides whether this request is mirrored.
func (m *mirrorPolicy) sampled() bool {
	if m.denominator == 0 {
		return true
	}
	return rand.Uint64N(m.denominator) < m.numerator
}

// shadowHost appends "-shadow" to the host part of an authority, keeping
// the port parseable ("a:80" -> "a-shadow:80"), as Envoy has done since
// appending after the port broke servers that parse Host.
func shadowHost(authority string) string {
	if host, port, err := net.SplitHostPort(authority); err == nil {
		if strings.Contains(host, ":") {
			return "[" + host + "-shadow]:" + port
		}
		return host + "-shadow:" + port
	}
	return authority + "-shadow"
}

// mirrorTarget is a mirror chosen for this request, with its slot taken.
type mirrorTarget struct {
	c        *clusterRT
	keepHost bool
}

// mirror starts the copies of out (the upstream request, before its first
// attempt) for the route's mirror policies. body is the request body when
// the router already buffered it (retries); otherwise, when there is a
// body, out.Body is wrapped so that the copies leave once the primary has
// read the whole body: the primary is never delayed by the mirror.
func (st *reqState) mirror(out *http.Request, body []byte, policies []mirrorPolicy, timeout time.Duration) {
	var targets []mirrorTarget
	for i := range policies {
		p := &policies[i]
		if !p.sampled() {
			continue
		}
		name := p.cluster
		if p.clusterHeader != "" {
			name = out.Header.Get(p.clusterHeader)
		}
		c := st.lr.clusters[name]
		if c == nil || !c.acquire() {
			// An unknown mirror cluster or a full one drops the copy;
			// the primary request is not concerned.
			continue
		}
		targets = append(targets, mirrorTarget{c: c, keepHost: p.keepHost})
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
				t.c.release()
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
	defer t.c.release()
	h := t.c.pick()
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
		URL:           cloneURL(out.URL, h, h.tls != nil),
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        out.Header.Clone(), // the transport may add to it
		Host:          out.Host,
		ContentLength: int64(len(body)),
	}
	if !t.keepHost {
		req.Host = shadowHost(out.Host)
	}
	if len(body) > 0 {
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	req = req.WithContext(ctx)
	h2 := t.c.cfg.proto == protoH2 || (t.c.cfg.proto == protoDownstream && out.ProtoMajor == 2)
	h.active.Add(1)
	defer h.active.Add(-1)
	resp, err := h.transport(h2).RoundTrip(req)
	if err != nil {
		if ctx.Err() == nil {
			t.c.report(h, http.StatusServiceUnavailable)
		} else {
			t.c.report(h, http.StatusGatewayTimeout)
		}
		return
	}
	t.c.report(h, resp.StatusCode)
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
