// Command proxy-backend is the static upstream of bench/proxy.sh: it answers
// every request with the same small body, so that the proxies under test,
// not the backend, are what the benchmark measures.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"strconv"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address (loopback only by default)")
	size := flag.Int("size", 128, "response body size in bytes")
	flag.Parse()
	body := make([]byte, *size)
	for i := range body {
		body[i] = 'a' + byte(i%26)
	}
	length := strconv.Itoa(len(body))
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	// The script reads the address from the first line of stdout.
	fmt.Println(ln.Addr().String())
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Setting the header map directly skips canonicalisation work.
		hd := w.Header()
		hd["Content-Type"] = []string{"text/plain"}
		hd["Content-Length"] = []string{length}
		_, _ = w.Write(body)
	})
	log.Fatal(http.Serve(ln, h))
}
