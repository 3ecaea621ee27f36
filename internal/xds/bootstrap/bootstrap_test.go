package bootstrap

import "testing"

func TestBuildValidates(t *testing.T) {
	for _, o := range []Options{EnvoyGatewayDefaults(), {XDSHost: "127.0.0.1", XDSPort: 18000, AdminAddress: "127.0.0.1", AdminPort: 19000, StatsAddress: "0.0.0.0", StatsPort: 19001, MaxDownstreamConnections: 1000}} {
		if err := Build(o).ValidateAll(); err != nil {
			t.Fatal(err)
		}
	}
}
