package authz

import (
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
)

// FuzzInput builds the input document from arbitrary paths, bodies and
// content types: a request the authorizer cannot parse is an error (a 400
// answer), never a panic.
func FuzzInput(f *testing.F) {
	f.Add("/a/b%20c?x=1&x=2", "application/json", `{"a":1}`)
	f.Add("/", "application/x-www-form-urlencoded", "a=1&b=%zz")
	f.Add("/p", "multipart/form-data; boundary=X", "--X\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nv\r\n--X--\r\n")
	f.Add("/%%", "text/plain", "")
	f.Fuzz(func(t *testing.T, path, ct, body string) {
		req := &authv3.CheckRequest{Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{
			Http: &authv3.AttributeContext_HttpRequest{Path: path, Body: body, Headers: map[string]string{"content-type": ct}}}}}
		in, err := Input(req, false)
		if err == nil && in["parsed_path"] == nil {
			t.Fatal("no parsed_path")
		}
	})
}
