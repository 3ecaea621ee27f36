package grpcstats

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	grpcstatsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/grpc_stats/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/portico-gw/portico/internal/proxy/filters"
	"github.com/portico-gw/portico/internal/proxy/filters/filtertest"
	"github.com/portico-gw/portico/internal/proxy/stats"
	"github.com/portico-gw/portico/internal/proxy/streaminfo"
)

func build(t *testing.T, fc *grpcstatsv3.FilterConfig, st *stats.Store) filters.Filter {
	t.Helper()
	cfg, _ := anypb.New(fc)
	f, ok := filters.Lookup(cfg.GetTypeUrl())
	if !ok {
		t.Fatal("grpc_stats is not registered")
	}
	flt, err := f.New("envoy.filters.http.grpc_stats", cfg, filters.BuildContext{Stats: st})
	if err != nil {
		t.Fatal(err)
	}
	return flt
}

// call sends two request messages and answers three, with the given
// grpc-status in trailers (or in the headers when trailersOnly).
func call(t *testing.T, f filters.Filter, path, grpcStatus string, trailersOnly bool) *filtertest.Result {
	t.Helper()
	body := []byte{0, 0, 0, 0, 1, 'a', 0, 0, 0, 0, 0}
	r := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/grpc")
	s := &filters.Stream{Info: &streaminfo.StreamInfo{}}
	return filtertest.RunStream(f, s, r, filtertest.Options{Upstream: func(w http.ResponseWriter, up *http.Request) {
		_, _ = io.ReadAll(up.Body)
		s.Info.UpstreamCluster = "c1" // what the router records
		w.Header().Set("Content-Type", "application/grpc")
		if trailersOnly {
			w.Header().Set("Grpc-Status", grpcStatus)
			w.WriteHeader(http.StatusOK)
			return
		}
		w.WriteHeader(http.StatusOK)
		// Three frames, written split across frame boundaries.
		_, _ = w.Write([]byte{0, 0, 0, 0, 2, 'h'})
		_, _ = w.Write([]byte{'i', 0, 0, 0, 0, 0, 0})
		_, _ = w.Write([]byte{0, 0, 0, 0, 1, 'x'})
		w.Header()[http.TrailerPrefix+"Grpc-Status"] = []string{grpcStatus}
	}})
}

func TestCountsPerMethod(t *testing.T) {
	st := stats.New()
	f := build(t, &grpcstatsv3.FilterConfig{EmitFilterState: true,
		PerMethodStatSpecifier: &grpcstatsv3.FilterConfig_StatsForAllMethods{StatsForAllMethods: wrapperspb.Bool(true)}}, st)
	res := call(t, f, "/pkg.v1.Svc/Get", "0", false)
	call(t, f, "/pkg.v1.Svc/Get", "5", false)
	call(t, f, "/pkg.v1.Svc/Get", "14", true)
	p := "cluster.c1.grpc.pkg.v1.Svc.Get."
	want := map[string]uint64{p + "total": 3, p + "success": 1, p + "failure": 2,
		p + "request_message_count": 6, p + "response_message_count": 6}
	for name, v := range want {
		if got := st.Get(name); got != v {
			t.Errorf("%s = %d, want %d (all: %v)", name, got, v, st.Snapshot())
		}
	}
	fs, ok := res.Metadata["envoy.filters.http.grpc_stats"].(*FilterState)
	if !ok || fs.RequestMessageCount != 2 || fs.ResponseMessageCount != 3 {
		t.Fatalf("filter state %#v", res.Metadata)
	}
}

func TestAllowlistAndGenericNames(t *testing.T) {
	st := stats.New()
	f := build(t, &grpcstatsv3.FilterConfig{PerMethodStatSpecifier: &grpcstatsv3.FilterConfig_IndividualMethodStatsAllowlist{
		IndividualMethodStatsAllowlist: &corev3.GrpcMethodList{Services: []*corev3.GrpcMethodList_Service{{Name: "a.S", MethodNames: []string{"M"}}}}}}, st)
	call(t, f, "/a.S/M", "0", false)
	call(t, f, "/a.S/Other", "0", false)
	call(t, f, "/not-grpc-path", "0", false)
	if st.Get("cluster.c1.grpc.a.S.M.success") != 1 || st.Get("cluster.c1.grpc.success") != 2 || st.Get("cluster.c1.grpc.a.S.Other.success") != 0 {
		t.Fatalf("%v", st.Snapshot())
	}
}

func TestNonGRPCAndUnsupportedConfig(t *testing.T) {
	st := stats.New()
	f := build(t, &grpcstatsv3.FilterConfig{}, st)
	r := httptest.NewRequest(http.MethodGet, "/x", nil)
	if res := filtertest.Run(f, r, filtertest.Options{}); !res.Passed || len(st.Snapshot()) != 0 {
		t.Fatalf("a plain HTTP request was counted: %v", st.Snapshot())
	}
	cfg, _ := anypb.New(&grpcstatsv3.FilterConfig{EnableUpstreamStats: true})
	fac, _ := filters.Lookup(cfg.GetTypeUrl())
	if _, err := fac.New("g", cfg, filters.BuildContext{}); err == nil {
		t.Fatal("enable_upstream_stats must be rejected, not ignored")
	}
}

// However a stream is cut into writes, the frames counted are the same.
func FuzzFrameCounter(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 2, 'h', 'i', 0, 0, 0, 0, 0}, uint8(3))
	f.Fuzz(func(t *testing.T, b []byte, cut uint8) {
		var whole, split frameCounter
		whole.feed(b)
		step := int(cut%16) + 1
		for i := 0; i < len(b); i += step {
			split.feed(b[i:min(i+step, len(b))])
		}
		if whole.count.Load() != split.count.Load() {
			t.Fatalf("%d frames whole, %d in pieces of %d", whole.count.Load(), split.count.Load(), step)
		}
	})
}
