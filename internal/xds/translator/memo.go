package translator

import (
	"reflect"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"

	"github.com/portico-gw/portico/internal/ir"
)

// Memo carries a fleet's clusters from one translation to the next, so
// that a route edit among 1000 does not rebuild 1000 clusters and, more to
// the point, hands the xDS server the very same messages, whose encodings
// it already holds. A cluster is reused only when its whole input (name,
// destination settings, metadata) is deeply equal to the previous one, so
// the output is exactly what a fresh translation gives (a test checks this
// byte for byte over a sequence of edits).
//
// Reused messages are shared between translations: nothing may modify a
// translation's resources in place (patches and hooks build new ones), as
// go-control-plane already requires of anything given to its cache. A Memo
// serves one fleet and one Translate call at a time.
type Memo struct {
	clusters map[string]clusterMemo
}

type clusterMemo struct {
	spec    clusterSpec
	c       *clusterv3.Cluster
	cla     *endpointv3.ClusterLoadAssignment
	secrets []*tlsv3.Secret
}

// NewMemo returns an empty Memo.
func NewMemo() *Memo { return &Memo{clusters: map[string]clusterMemo{}} }

// TranslateMemo is Translate, reusing what m remembers from the previous
// call and remembering this one's clusters (m may be nil: Translate).
func TranslateMemo(x *ir.Xds, m *Memo) (*Resources, error) {
	s := newSink()
	if m != nil {
		s.memo = &memoRun{prev: m.clusters, next: map[string]clusterMemo{}}
	}
	res, err := translate(x, s)
	if m != nil {
		m.clusters = s.memo.next
	}
	return res, err
}

// memoRun is a Memo during one translation.
type memoRun struct {
	prev, next map[string]clusterMemo
	// capture, while a cluster is built, collects every secret it asks
	// for (including ones another cluster added first), to be asked
	// for again when the cluster is reused.
	capture *[]*tlsv3.Secret
}

// buildClusterMemo is buildCluster through the memo.
func buildClusterMemo(spec clusterSpec, s *Sink) (*clusterv3.Cluster, *endpointv3.ClusterLoadAssignment, error) {
	r := s.memo
	if r == nil {
		return buildCluster(spec, s)
	}
	if e, ok := r.prev[spec.name]; ok && reflect.DeepEqual(e.spec, spec) {
		for _, sec := range e.secrets {
			s.AddSecret(sec)
		}
		r.next[spec.name] = e
		return e.c, e.cla, nil
	}
	var secrets []*tlsv3.Secret
	r.capture = &secrets
	c, cla, err := buildCluster(spec, s)
	r.capture = nil
	if err == nil {
		r.next[spec.name] = clusterMemo{spec: spec, c: c, cla: cla, secrets: secrets}
	}
	return c, cla, err
}
