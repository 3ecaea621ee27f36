// Command gen-routes writes a Gateway API input of N HTTPRoutes (two rules
// each) over 50 Services, the load the backbone's translation targets are
// measured on.
package main

import (
	"bufio"
	"flag"
	"os"

	"github.com/portico-gw/portico/bench/routegen"
)

func main() {
	routes := flag.Int("routes", 1000, "number of HTTPRoutes")
	services := flag.Int("services", 50, "number of Services the routes spread over")
	flag.Parse()
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	routegen.Write(w, *routes, *services)
}
