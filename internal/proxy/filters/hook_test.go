package filters

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestHookWriter(t *testing.T) {
	rec := httptest.NewRecorder()
	w := &HookWriter{ResponseWriter: rec, OnHeader: func(code int, h http.Header) int {
		h.Set("X-Seen", "1")
		return code + 1
	}}
	w.Header().Set("X-Up", "u")
	_, _ = w.Write([]byte("body"))
	w.WriteHeader(500) // ignored: already written
	if rec.Code != 201 || rec.Header().Get("X-Seen") != "1" || rec.Body.String() != "body" {
		t.Fatalf("got %d %v %q", rec.Code, rec.Header(), rec.Body.String())
	}
}

func TestRegistry(t *testing.T) {
	// The router is the contract's own; every other filter registers from
	// its package (filters/all's test checks those).
	if _, ok := Lookup("type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"); !ok {
		t.Error("the router is not registered")
	}
	defer func() {
		if recover() == nil {
			t.Error("duplicate registration must panic")
		}
	}()
	Register(&Factory{TypeURL: "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"})
}
