// Command registry runs a container registry on loopback (the in-process
// registry of go-containerregistry, in memory), standing in for the
// registry of the Wasm guide's Image example:
//
//	go run ./examples/wasm/registry -address 127.0.0.1:5000
//
// With -user and -password it asks for basic authentication, as a private
// registry does (the image-private example's pull secret has them).
package main

import (
	"crypto/subtle"
	"flag"
	"io"
	"log"
	"net/http"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
)

func main() {
	addr := flag.String("address", "127.0.0.1:5000", "address to listen on")
	user := flag.String("user", "", "require basic authentication with this user")
	password := flag.String("password", "", "the user's password")
	flag.Parse()
	var h http.Handler = registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	if *user != "" {
		h = basicAuth(h, *user, *password)
	}
	log.Printf("registry on http://%s/v2/ (authentication: %v)", *addr, *user != "")
	srv := &http.Server{Addr: *addr, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.ListenAndServe())
}

// basicAuth answers requests without the right credentials as the
// reference registry does: 401 with a Basic challenge and UNAUTHORIZED.
func basicAuth(next http.Handler, user, password string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(u+":"+p), []byte(user+":"+password)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="portico-example"`)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}`)
			return
		}
		next.ServeHTTP(w, r)
	})
}
