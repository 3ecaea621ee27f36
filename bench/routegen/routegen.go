// Package routegen generates Gateway API inputs of a given size for
// benchmarks: N HTTPRoutes (two rules each) over a set of Services.
package routegen

import (
	"bytes"
	"fmt"
	"io"
)

// Write writes a GatewayClass, a Gateway, the Services and the routes.
func Write(w io.Writer, routes, services int) {
	fmt.Fprint(w, `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata:
  name: eg
spec:
  controllerName: gateway.envoyproxy.io/gatewayclass-controller
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: eg
  namespace: default
spec:
  gatewayClassName: eg
  listeners:
    - name: http
      protocol: HTTP
      port: 80
`)
	for s := 0; s < services; s++ {
		fmt.Fprintf(w, `---
apiVersion: v1
kind: Service
metadata:
  name: svc-%d
  namespace: default
spec:
  clusterIP: 10.0.%d.%d
  ports:
    - name: http
      port: 8080
`, s, s/250, s%250+1)
	}
	for r := 0; r < routes; r++ {
		fmt.Fprintf(w, `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: route-%d
  namespace: default
spec:
  parentRefs:
    - name: eg
  hostnames:
    - "host-%d.example.com"
  rules:
    - matches:
        - path:
            type: PathPrefix
            value: /api
          headers:
            - name: x-version
              value: v2
      backendRefs:
        - name: svc-%d
          port: 8080
    - matches:
        - path:
            type: PathPrefix
            value: /
      backendRefs:
        - name: svc-%d
          port: 8080
          weight: 90
        - name: svc-%d
          port: 8080
          weight: 10
`, r, r, r%services, (r+1)%services, (r+2)%services)
	}
}

// Bytes returns Write's output.
func Bytes(routes, services int) []byte {
	var b bytes.Buffer
	Write(&b, routes, services)
	return b.Bytes()
}
