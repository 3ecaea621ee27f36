package runner

import (
	"strings"
	"testing"

	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/portico-gw/portico/internal/patch"
	xdsserver "github.com/portico-gw/portico/internal/xds/server"
)

func TestBlamed(t *testing.T) {
	patches := []appliedPatch{
		{name: "ns/listener-a", touched: []patch.Resource{{TypeURL: resourcev3.ListenerType, Name: "default/eg/http"}}},
		{name: "ns/listener-b", touched: []patch.Resource{{TypeURL: resourcev3.ListenerType, Name: "default/eg/https"}}},
		{name: "ns/route", touched: []patch.Resource{{TypeURL: resourcev3.RouteType, Name: "default/eg/http"}}},
		{name: "ns/nothing"},
	}
	cases := []struct {
		name string
		nack *xdsserver.NACK
		want []string
	}{
		{"no NACK: the fleet failed as a whole", nil, []string{"ns/listener-a", "ns/listener-b", "ns/route", "ns/nothing"}},
		{"the rejected listener is named", &xdsserver.NACK{TypeURL: resourcev3.ListenerType, Detail: "listener default/eg/https: bad"}, []string{"ns/listener-b"}},
		{"no name: every policy that changed that type", &xdsserver.NACK{TypeURL: resourcev3.ListenerType, Detail: "bad"}, []string{"ns/listener-a", "ns/listener-b"}},
		{"a type no policy changed", &xdsserver.NACK{TypeURL: resourcev3.ClusterType, Detail: "cluster x: bad"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := blamed(patches, c.nack); strings.Join(got, ",") != strings.Join(c.want, ",") {
				t.Fatalf("blamed %v, want %v", got, c.want)
			}
		})
	}
}
