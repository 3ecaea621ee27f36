package filters

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestReadRequestBody(t *testing.T) {
	for _, c := range []struct {
		name, body string
		limit      int
		want       string
		complete   bool
	}{
		{"fits", "hello", 10, "hello", true},
		{"exactly", "hello", 5, "hello", true},
		{"longer", "hello world", 5, "hello", false},
		{"empty", "", 5, "", true},
	} {
		r := httptest.NewRequest("POST", "/", strings.NewReader(c.body))
		s := &Stream{Request: r}
		got, complete, err := ReadRequestBody(s, c.limit)
		if err != nil || string(got) != c.want || complete != c.complete {
			t.Errorf("%s: %q %v %v, want %q %v", c.name, got, complete, err, c.want, c.complete)
		}
		// The upstream still gets the whole body.
		if rest, _ := io.ReadAll(r.Body); string(rest) != c.body {
			t.Errorf("%s: the body read on is %q", c.name, rest)
		}
	}
	s := &Stream{Request: httptest.NewRequest("GET", "/", nil)}
	if b, ok, err := ReadRequestBody(s, 5); b != nil || !ok || err != nil {
		t.Errorf("no body: %q %v %v", b, ok, err)
	}
}

func TestSetRequestBody(t *testing.T) {
	r := httptest.NewRequest("POST", "/", strings.NewReader("old"))
	r.ContentLength, r.TransferEncoding = -1, []string{"chunked"}
	r.Header.Set("Transfer-Encoding", "chunked")
	SetRequestBody(&Stream{Request: r}, []byte("new body"))
	b, _ := io.ReadAll(r.Body)
	if string(b) != "new body" || r.ContentLength != 8 || r.TransferEncoding != nil || r.Header.Get("Content-Length") != "8" ||
		r.Header.Get("Transfer-Encoding") != "" {
		t.Errorf("%q %d %v %v", b, r.ContentLength, r.TransferEncoding, r.Header)
	}
}

func TestResponseBuffer(t *testing.T) {
	rec := httptest.NewRecorder()
	s := &Stream{Writer: rec}
	b := BufferResponse(s, 8)
	s.Writer.Header().Set("X-Up", "1")
	s.Writer.WriteHeader(201)
	_, _ = s.Writer.Write([]byte("abc"))
	_, _ = s.Writer.Write([]byte("def"))
	if rec.Body.Len() != 0 || b.Code != 201 || string(b.Body) != "abcdef" {
		t.Fatalf("held: %q, code %d body %q", rec.Body, b.Code, b.Body)
	}
	b.Body = []byte("replaced")
	b.Send(true)
	if rec.Code != 201 || rec.Body.String() != "replaced" || rec.Header().Get("Content-Length") != "8" || rec.Header().Get("X-Up") != "1" {
		t.Errorf("sent %d %q %v", rec.Code, rec.Body, rec.Header())
	}
	over := BufferResponse(&Stream{Writer: httptest.NewRecorder()}, 4)
	if _, err := over.Write([]byte("12345")); err != ErrBodyTooLarge || over.Err != ErrBodyTooLarge || over.Body != nil {
		t.Errorf("over the limit: %v %v %q", err, over.Err, over.Body)
	}
	if _, _, err := over.Hijack(); err == nil {
		t.Error("a buffered response was hijacked")
	}
}
