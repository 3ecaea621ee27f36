package server

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
	"github.com/portico-gw/portico/bench/routegen"
	"github.com/portico-gw/portico/internal/pipeline"
	"github.com/portico-gw/portico/internal/resource"
)

// translated returns a real fleet's resources for n routes, plus a Secret
// (the translator emits one only for TLS listeners).
func translated(t testing.TB, n int) map[resourcev3.Type][]types.Resource {
	t.Helper()
	set, problems := resource.LoadBytes("in.yaml", routegen.Bytes(n, 4))
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	cfg := &egv1a1.EnvoyGateway{}
	resource.SetConfigDefaults(cfg)
	res := pipeline.Run(context.Background(), set, cfg, pipeline.Options{}).Fleets[0].Resources.ByType()
	res[resourcev3.SecretType] = []types.Resource{&tlsv3.Secret{Name: "default/cert",
		Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
			CertificateChain: &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: "pem"}}}}}}
	return res
}

// TestPremarshalledCopiesEncodeToTheOriginalBytes is what makes serving
// the copies safe: whatever go-control-plane marshals (for SotW, for a
// delta version hash) must be the original resource, byte for byte.
func TestPremarshalledCopiesEncodeToTheOriginalBytes(t *testing.T) {
	res := translated(t, 20)
	enc, _, err := marshalAll(res, nil)
	if err != nil {
		t.Fatal(err)
	}
	for typ, list := range res {
		if len(list) == 0 {
			t.Fatalf("no %s to check", typ)
		}
		for i, r := range list {
			want, _ := proto.MarshalOptions{Deterministic: true}.Marshal(r)
			if !bytes.Equal(enc[typ][i].raw, want) {
				t.Fatalf("%s %d: marshalAll's bytes differ from a deterministic marshal", typ, i)
			}
			cp, err := premarshalled(typ, enc[typ][i])
			if err != nil {
				t.Fatal(err)
			}
			got, err := proto.Marshal(cp)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("%s %s: the copy encodes to %d bytes, the original to %d (err %v)", typ, cachev3.GetResourceName(r), len(got), len(want), err)
			}
			if cachev3.GetResourceName(cp) != cachev3.GetResourceName(r) {
				t.Fatalf("%s: the copy is named %q, the original %q", typ, cachev3.GetResourceName(cp), cachev3.GetResourceName(r))
			}
		}
	}
}

func TestAfterNameRefusesAnEncodingThatDoesNotStartWithTheName(t *testing.T) {
	b, _ := proto.Marshal(&clusterv3.Cluster{Name: "a"})
	if _, err := afterName(b, "b"); err == nil {
		t.Fatal("a different name was accepted")
	}
	if _, err := afterName([]byte{0x12, 0x01, 'a'}, "a"); err == nil {
		t.Fatal("field 2 was taken for the name")
	}
}

// TestSotWSendsOnlyTheTypesThatChanged: a snapshot that changes the
// endpoints alone is answered on the endpoint watch; the cluster watch,
// whose content is the same, stays quiet and keeps its version.
func TestSotWSendsOnlyTheTypesThatChanged(t *testing.T) {
	s, addr := startServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res := translated(t, 5)
	delete(res, resourcev3.SecretType)
	r1, err := s.SetSnapshot(ctx, fleet, res)
	if err != nil {
		t.Fatal(err)
	}
	cli, err := discoveryv3.NewAggregatedDiscoveryServiceClient(dial(t, addr)).StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var edsNames []string
	for _, r := range res[resourcev3.EndpointType] {
		edsNames = append(edsNames, cachev3.GetResourceName(r))
	}
	node := &corev3.Node{Id: "proxy-1", Cluster: fleet}
	for _, req := range []*discoveryv3.DiscoveryRequest{{Node: node, TypeUrl: resourcev3.ClusterType},
		{TypeUrl: resourcev3.EndpointType, ResourceNames: edsNames}} {
		if err := cli.Send(req); err != nil {
			t.Fatal(err)
		}
		resp, err := cli.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetVersionInfo() != r1.Version {
			t.Fatalf("%s: version %q, want %q", resp.GetTypeUrl(), resp.GetVersionInfo(), r1.Version)
		}
		if err := cli.Send(&discoveryv3.DiscoveryRequest{TypeUrl: resp.GetTypeUrl(), VersionInfo: resp.GetVersionInfo(),
			ResponseNonce: resp.GetNonce(), ResourceNames: req.ResourceNames}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, s, "ACK of v1", func(ps []Proxy) bool { return len(ps) == 1 && ps[0].Synced(r1.Version) })

	// Give the first cluster the endpoints of another.
	res = translated(t, 5)
	delete(res, resourcev3.SecretType)
	var other *endpointv3.ClusterLoadAssignment
	for _, r := range res[resourcev3.EndpointType] {
		if c := r.(*endpointv3.ClusterLoadAssignment); !proto.Equal(c.GetEndpoints()[0], res[resourcev3.EndpointType][0].(*endpointv3.ClusterLoadAssignment).GetEndpoints()[0]) {
			other = c
		}
	}
	moved := proto.Clone(other).(*endpointv3.ClusterLoadAssignment)
	moved.ClusterName = edsNames[0]
	res[resourcev3.EndpointType][0] = moved
	r2, err := s.SetSnapshot(ctx, fleet, res)
	if err != nil || !r2.Changed {
		t.Fatalf("SetSnapshot: %+v %v", r2, err)
	}
	resp, err := cli.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetTypeUrl() != resourcev3.EndpointType || resp.GetVersionInfo() != r2.Version {
		t.Fatalf("sent %s version %q; want only the endpoints, at %q", resp.GetTypeUrl(), resp.GetVersionInfo(), r2.Version)
	}
	if err := cli.Send(&discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.EndpointType, VersionInfo: r2.Version,
		ResponseNonce: resp.GetNonce(), ResourceNames: edsNames}); err != nil {
		t.Fatal(err)
	}
	// The proxy holds clusters at v1 and endpoints at v2: it serves v2.
	waitFor(t, s, "ACK of v2", func(ps []Proxy) bool { return len(ps) == 1 && ps[0].Synced(r2.Version) })
	if got := s.Proxies()[0].Types[resourcev3.ClusterType].Sent; got != r1.Version {
		t.Fatalf("clusters were resent at %q; their content did not change", got)
	}
}

// TestReusedEncodingsGiveTheOriginalBytes: after an edit, with the
// translator's memo handing over the same messages, the encodings taken
// from the previous snapshot (whole clusters, virtual hosts spliced into
// the route configuration) must still be the resources' exact bytes.
func TestReusedEncodingsGiveTheOriginalBytes(t *testing.T) {
	cfg := &egv1a1.EnvoyGateway{}
	resource.SetConfigDefaults(cfg)
	memo := pipeline.NewMemo()
	run := func(in []byte) map[resourcev3.Type][]types.Resource {
		set, problems := resource.LoadBytes("in.yaml", in)
		if len(problems) > 0 {
			t.Fatal(problems)
		}
		return pipeline.Run(context.Background(), set, cfg, pipeline.Options{Memo: memo}).Fleets[0].Resources.ByType()
	}
	first := run(routegen.Bytes(50, 4))
	_, known, err := marshalAll(first, nil)
	if err != nil {
		t.Fatal(err)
	}
	edited := bytes.Replace(routegen.Bytes(50, 4), []byte("host-7.example.com"), []byte("host-7.example.org"), 1)
	second := run(edited)
	enc, _, err := marshalAll(second, known)
	if err != nil {
		t.Fatal(err)
	}
	reused := 0
	for typ, list := range second {
		for i, r := range list {
			want, _ := proto.MarshalOptions{Deterministic: true}.Marshal(r)
			if !bytes.Equal(enc[typ][i].raw, want) {
				t.Fatalf("%s %s: reused encoding differs from the resource", typ, cachev3.GetResourceName(r))
			}
			if _, ok := known[r]; ok {
				reused++
			}
		}
	}
	if reused < 90 {
		t.Fatalf("only %d resources were reused: the memo or the encodings cache is not working", reused)
	}
}

// The delta versions the server hands go-control-plane must be the ones it
// would compute itself, or a proxy resuming a stream would be resent (or,
// worse, not sent) resources.
func TestVersionMapMatchesGoControlPlane(t *testing.T) {
	res := translated(t, 20)
	enc, _, err := marshalAll(res, nil)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := cachev3.NewSnapshot("1", res)
	if err != nil {
		t.Fatal(err)
	}
	if err := snap.ConstructVersionMap(); err != nil {
		t.Fatal(err)
	}
	got := versionMap(enc)
	for url, want := range snap.VersionMap {
		if len(want) > 0 && !reflect.DeepEqual(got[url], want) {
			t.Errorf("%s: versions differ", url)
		}
		if got[url] == nil {
			t.Errorf("%s: no version map", url)
		}
	}
}

// BenchmarkSetSnapshotOneEdit1000 is a push after one route of 1000
// changed, with the translator memo warm, as the runner makes it.
//
//	go test ./internal/xds/server -run XXX -bench SetSnapshot -benchmem
func BenchmarkSetSnapshotOneEdit1000(b *testing.B) {
	cfg := &egv1a1.EnvoyGateway{}
	resource.SetConfigDefaults(cfg)
	memo := pipeline.NewMemo()
	var sets [2]map[resourcev3.Type][]types.Resource
	for i := range sets {
		in := bytes.Replace(routegen.Bytes(1000, 4), []byte("host-7.example.com"), fmt.Appendf(nil, "host-7-%d.example.com", i), 1)
		set, problems := resource.LoadBytes("in.yaml", in)
		if len(problems) > 0 {
			b.Fatal(problems)
		}
		sets[i] = pipeline.Run(context.Background(), set, cfg, pipeline.Options{Memo: memo}).Fleets[0].Resources.ByType()
	}
	s := New(Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ctx := context.Background()
	i := 0
	for b.Loop() {
		i++
		if _, err := s.SetSnapshot(ctx, fleet, sets[i%2]); err != nil {
			b.Fatal(err)
		}
	}
}
