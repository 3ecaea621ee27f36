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
	for _, u := range []string{"type.googleapis.com/envoy.extensions.filters.http.router.v3.Router",
		"type.googleapis.com/envoy.extensions.filters.http.health_check.v3.HealthCheck"} {
		if _, ok := Lookup(u); !ok {
			t.Errorf("%s not registered", u)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("duplicate registration must panic")
		}
	}()
	Register(&Factory{TypeURL: "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"})
}
