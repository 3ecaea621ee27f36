package server

import (
	"sort"
	"strconv"
	"sync"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
)

// NACK is a response a proxy rejected.
type NACK struct {
	// TypeURL is the rejected xDS type, Version the rejected snapshot version.
	TypeURL string `json:"typeURL"`
	Version string `json:"version"`
	// Detail is the proxy's error_detail message, verbatim.
	Detail string `json:"detail"`
}

// TypeState is what one proxy was sent and accepted for one xDS type.
type TypeState struct {
	// Sent is the version of the latest response sent, Acked the version of
	// the latest response the proxy accepted.
	Sent  string `json:"sent,omitempty"`
	Acked string `json:"acked,omitempty"`
	// Pending counts responses not yet answered.
	Pending int `json:"pending,omitempty"`
	// NACK is the latest rejection; an ACK of a later response clears it.
	NACK *NACK `json:"nack,omitempty"`
}

// Proxy is one connected ADS stream as the server sees it.
type Proxy struct {
	StreamID int64  `json:"streamID"`
	NodeID   string `json:"nodeID"`
	// Fleet is the node's cluster: the "<namespace>/<gateway>" (or
	// GatewayClass) key of the snapshot it is served.
	Fleet string `json:"fleet"`
	// Protocol is "sotw" or "delta".
	Protocol string               `json:"protocol"`
	Types    map[string]TypeState `json:"types"`
}

// Synced reports whether the proxy serves version: nothing outstanding,
// nothing rejected, and the newest version it accepted is version. (A
// delta stream is sent only the types that changed, so types left alone
// keep an older accepted version; the newest one is what counts.)
func (p Proxy) Synced(version string) bool {
	newest := ""
	for _, t := range p.Types {
		if t.Pending > 0 || t.NACK != nil {
			return false
		}
		if newerVersion(t.Acked, newest) {
			newest = t.Acked
		}
	}
	return newest == version
}

// Rejected returns the proxy's NACK, if any type's latest answer was one.
// With several, the one of the lowest type URL is returned, for stable output.
func (p Proxy) Rejected() *NACK {
	var out *NACK
	for _, t := range sortedTypes(p.Types) {
		if n := p.Types[t].NACK; n != nil && out == nil {
			out = n
		}
	}
	return out
}

// newerVersion compares versions made by Version: the generation number
// before the first '-' orders them.
func newerVersion(a, b string) bool {
	return generationOf(a) > generationOf(b)
}

func generationOf(v string) int64 {
	for i := 0; i < len(v); i++ {
		if v[i] == '-' {
			v = v[:i]
			break
		}
	}
	n, _ := strconv.ParseInt(v, 10, 64)
	return n
}

func sortedTypes(m map[string]TypeState) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// stream is the tracker's private state of one ADS stream.
type stream struct {
	id       int64
	node     *corev3.Node
	protocol string
	types    map[string]*typeTrack
}

type typeTrack struct {
	sent, acked string
	nack        *NACK
	// pending maps the nonce of each unanswered response to its version.
	// go-control-plane's nonces are per-stream counters, so an answer to
	// nonce n also settles every older response (a proxy answers only the
	// newest one it received).
	pending map[int64]string
}

// tracker follows every stream's responses and the proxy's answers. It is
// fed by the go-control-plane callbacks, which run on the gRPC goroutines.
type tracker struct {
	mu      sync.Mutex
	streams map[int64]*stream
	notify  func()
	onNACK  func(fleet string, n NACK)
}

func newTracker(notify func(), onNACK func(string, NACK)) *tracker {
	return &tracker{streams: map[int64]*stream{}, notify: notify, onNACK: onNACK}
}

func (t *tracker) open(id int64, protocol string) {
	t.mu.Lock()
	t.streams[id] = &stream{id: id, protocol: protocol, types: map[string]*typeTrack{}}
	t.mu.Unlock()
}

func (t *tracker) close(id int64) {
	t.mu.Lock()
	_, ok := t.streams[id]
	delete(t.streams, id)
	t.mu.Unlock()
	if ok {
		t.notify()
	}
}

func (t *tracker) track(s *stream, typeURL string) *typeTrack {
	tt := s.types[typeURL]
	if tt == nil {
		tt = &typeTrack{pending: map[int64]string{}}
		s.types[typeURL] = tt
	}
	return tt
}

// sent records a response about to go out.
func (t *tracker) sent(id int64, typeURL, nonce, version string) {
	n, err := strconv.ParseInt(nonce, 10, 64)
	if err != nil {
		return
	}
	t.mu.Lock()
	s := t.streams[id]
	if s != nil {
		tt := t.track(s, typeURL)
		tt.sent = version
		tt.pending[n] = version
	}
	t.mu.Unlock()
	if s != nil {
		t.notify()
	}
}

// request records a request. It returns the version a NACK rejected ("" when
// the request is not a NACK) so the SotW path can stop the cache from
// resending the same rejected version in a loop.
func (t *tracker) request(id int64, node *corev3.Node, typeURL, nonce, errDetail string, isNACK bool) string {
	t.mu.Lock()
	s := t.streams[id]
	if s == nil {
		t.mu.Unlock()
		return ""
	}
	first := s.node == nil && node != nil
	if first {
		s.node = node
	}
	tt := t.track(s, typeURL)
	n, err := strconv.ParseInt(nonce, 10, 64)
	version, known := "", false
	if err == nil && nonce != "" {
		version, known = tt.pending[n]
		for k := range tt.pending {
			if k <= n {
				delete(tt.pending, k)
			}
		}
	}
	var nack *NACK
	switch {
	case !known:
		// A first request, or a re-subscription quoting an answered nonce.
	case isNACK:
		nack = &NACK{TypeURL: typeURL, Version: version, Detail: errDetail}
		tt.nack = nack
	default:
		tt.acked, tt.nack = version, nil
	}
	fleet := ""
	if s.node != nil {
		fleet = s.node.GetCluster()
	}
	t.mu.Unlock()
	if nack != nil && t.onNACK != nil {
		t.onNACK(fleet, *nack)
	}
	if first || known {
		t.notify()
	}
	if nack != nil {
		return version
	}
	return ""
}

// claim records that a resuming proxy already holds the type at version:
// the server will send nothing for it, which is as good as an ACK.
func (t *tracker) claim(id int64, typeURL, version string) {
	t.mu.Lock()
	s := t.streams[id]
	if s != nil {
		if tt := t.track(s, typeURL); len(tt.pending) == 0 && tt.acked == "" {
			tt.acked = version
		}
	}
	t.mu.Unlock()
	if s != nil {
		t.notify()
	}
}

// node is the node a stream identified itself with (nil before that).
func (t *tracker) node(id int64) *corev3.Node {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s := t.streams[id]; s != nil {
		return s.node
	}
	return nil
}

// proxies returns every stream that has identified itself, by fleet then
// node id then stream id.
func (t *tracker) proxies() []Proxy {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Proxy, 0, len(t.streams))
	for _, s := range t.streams {
		if s.node == nil {
			continue
		}
		p := Proxy{StreamID: s.id, NodeID: s.node.GetId(), Fleet: s.node.GetCluster(), Protocol: s.protocol,
			Types: map[string]TypeState{}}
		for url, tt := range s.types {
			ts := TypeState{Sent: tt.sent, Acked: tt.acked, Pending: len(tt.pending)}
			if tt.nack != nil {
				n := *tt.nack
				ts.NACK = &n
			}
			p.Types[url] = ts
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Fleet != b.Fleet {
			return a.Fleet < b.Fleet
		}
		if a.NodeID != b.NodeID {
			return a.NodeID < b.NodeID
		}
		return a.StreamID < b.StreamID
	})
	return out
}
