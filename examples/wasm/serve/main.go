// Command serve serves examples/wasm (plugin.wasm) over HTTP, standing in
// for the URL of the Wasm guide's example:
//
//	go run ./examples/wasm/serve -address 127.0.0.1:8080
package main

import (
	"flag"
	"log"
	"net/http"
	"path/filepath"
	"runtime"
	"time"
)

func main() {
	addr := flag.String("address", "127.0.0.1:8080", "address to listen on")
	dir := flag.String("dir", "", "folder to serve (default: examples/wasm)")
	flag.Parse()
	if *dir == "" {
		_, file, _, _ := runtime.Caller(0)
		*dir = filepath.Join(filepath.Dir(file), "..")
	}
	log.Printf("serving %s on http://%s/", *dir, *addr)
	srv := &http.Server{Addr: *addr, Handler: http.FileServer(http.Dir(*dir)), ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.ListenAndServe())
}
