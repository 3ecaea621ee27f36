package translator

import (
	"fmt"
	"testing"

	"github.com/portico-gw/portico/internal/ir"
)

// thousandRoutes is one HTTP listener with 1000 routes over 100 hostnames,
// each with its own cluster.
func thousandRoutes() *ir.Xds {
	l := &ir.HTTPListener{Name: "default/eg/http", Address: "0.0.0.0", Port: 10080, ExternalPort: 80, Hostnames: []string{"*"},
		Path: ir.PathSettings{MergeSlashes: true, EscapedSlashesAction: "UnescapeAndRedirect"}}
	for i := range 1000 {
		prefix := fmt.Sprintf("/svc-%d", i)
		dest := fmt.Sprintf("httproute/default/r%d/rule/0", i)
		l.Routes = append(l.Routes, &ir.HTTPRoute{
			Name:      dest + "/match/0",
			Hostname:  fmt.Sprintf("host-%d.example.com", i%100),
			PathMatch: &ir.StringMatch{Prefix: &prefix},
			Metadata:  &ir.ResourceMetadata{Kind: "HTTPRoute", Name: fmt.Sprintf("r%d", i), Namespace: "default"},
			Destination: &ir.RouteDestination{Name: dest, Settings: []*ir.DestinationSetting{{
				Name:      dest + "/backend/0",
				Endpoints: []*ir.DestinationEndpoint{{Host: fmt.Sprintf("10.0.%d.%d", i/250, i%250+1), Port: 8080}},
			}}},
		})
	}
	return &ir.Xds{ReadyListener: &ir.ReadyListener{Address: "0.0.0.0", Port: 19003, Path: "/ready"},
		AccessLog: &ir.AccessLog{JSON: []ir.JSONAccessLog{{Path: "/dev/stdout"}}}, HTTP: []*ir.HTTPListener{l}}
}

func BenchmarkTranslate1000Routes(b *testing.B) {
	x := thousandRoutes()
	b.ReportAllocs()
	for b.Loop() {
		res, err := Translate(x)
		if err != nil || len(res.Clusters) != 1000 {
			b.Fatalf("%v %d", err, len(res.Clusters))
		}
	}
}
