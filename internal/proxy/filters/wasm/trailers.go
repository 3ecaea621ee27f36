package wasm

import (
	"net/http"
	"sort"
	"strings"

	"github.com/portico-gw/portico/internal/proxy/filters/wasm/abi"
)

// Trailers follow the filter contract (package filters, "Trailers"):
// the request's are in Request.Trailer once its body was read to the
// end; the response's are the writer's header keys with net/http's
// TrailerPrefix, set after the body, before next returns. A stream
// without trailers costs a map scan and no allocation.

// hasTrailers reports whether h holds a trailer with a value (declared
// names come with none until the trailers arrive).
func hasTrailers(h http.Header) bool {
	for _, vs := range h {
		if len(vs) > 0 {
			return true
		}
	}
	return false
}

// hasResponseTrailers reports whether a response header map carries
// trailers (TrailerPrefix keys with values).
func hasResponseTrailers(h http.Header) bool {
	for k, vs := range h {
		if len(vs) > 0 && strings.HasPrefix(k, http.TrailerPrefix) {
			return true
		}
	}
	return false
}

// respTrailerMap is the response's trailers: the TrailerPrefix keys of
// the response header map.
type respTrailerMap struct{ h http.Header }

func (m respTrailerMap) key(k string) string {
	return http.TrailerPrefix + http.CanonicalHeaderKey(k)
}

func (m respTrailerMap) Pairs() [][2]string {
	var names []string
	for k, vs := range m.h {
		if len(vs) > 0 && strings.HasPrefix(k, http.TrailerPrefix) {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	var out [][2]string
	for _, k := range names {
		name := strings.ToLower(strings.TrimPrefix(k, http.TrailerPrefix))
		for _, v := range m.h[k] {
			out = append(out, [2]string{name, v})
		}
	}
	return out
}

func (m respTrailerMap) Get(k string) (string, bool) {
	vs := m.h[m.key(k)]
	if len(vs) == 0 {
		return "", false
	}
	return vs[0], true
}

func (m respTrailerMap) Add(k, v string)     { m.h[m.key(k)] = append(m.h[m.key(k)], v) }
func (m respTrailerMap) Replace(k, v string) { m.h[m.key(k)] = []string{v} }
func (m respTrailerMap) Remove(k string)     { delete(m.h, m.key(k)) }

func (m respTrailerMap) SetPairs(pairs [][2]string) {
	for k := range m.h {
		if strings.HasPrefix(k, http.TrailerPrefix) {
			delete(m.h, k)
		}
	}
	for _, p := range pairs {
		m.Add(p[0], p[1])
	}
}

// trailerCount is the number of trailer lines of a response header map.
func trailerCount(h http.Header) int {
	n := 0
	for k, vs := range h {
		if strings.HasPrefix(k, http.TrailerPrefix) {
			n += len(vs)
		}
	}
	return n
}

// responseTrailers runs proxy_on_response_trailers (Envoy's
// encodeTrailers): StopIteration holds the stream until the plugin
// resumes it, and a failure or local reply is handled as for the
// headers. False means the response was replaced or failed.
func (w *respWriter) responseTrailers() bool {
	hd := w.ResponseWriter.Header()
	w.h.respTrailers = respTrailerMap{h: hd}
	a, err := w.st.ResponseTrailers(w.ctx, trailerCount(hd))
	if err == nil && a == abi.ActionPause && !w.h.replied() && !w.st.Closed() {
		err = w.st.Wait(w.ctx)
	}
	return w.handled(err)
}
