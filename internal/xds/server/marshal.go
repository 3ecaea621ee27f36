package server

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"runtime"
	"sync"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Marshalling dominates the cost of a push: go-control-plane's snapshot
// cache marshals every resource of a type again for every response it
// sends (and once more to version it for delta), and the server has
// already marshalled everything once to hash the content. So the server
// marshals each resource exactly once, deterministically, and hands the
// cache a "pre-marshalled" copy instead: a message of the same type that
// holds only its name, with the rest of the encoding kept as unknown
// fields. Go's protobuf encoder writes known fields by number and then the
// unknown bytes verbatim, and every xDS type served here has its name as
// field 1, so marshalling the copy is a memory copy that yields exactly
// the original bytes. The copies are only ever marshalled; Consistent()
// and the config dumps look at the real resources.

// encoded is one resource's deterministic encoding, its digest and the
// pre-marshalled copy the cache serves (nil for a virtual host, which is
// only ever part of a route configuration).
type encoded struct {
	name string
	raw  []byte
	sum  [32]byte
	hex  string // sum in hex: the resource's delta version
	copy types.Resource
}

// encodings remembers the encoding of each resource message of a fleet's
// latest snapshot. The translator hands over the very same message for
// output that did not change (translator.Memo), and a message given to
// the server is never modified (go-control-plane demands as much), so the
// message itself is the key.
type encodings map[types.Resource]encoded

// marshalAll encodes every resource of every type, taking what prev holds
// and spreading the rest over the available cores (the resources are
// independent and the caller waits). It returns the encodings of res.
func marshalAll(res map[resourcev3.Type][]types.Resource, prev encodings) (map[resourcev3.Type][]encoded, encodings, error) {
	type job struct {
		typ resourcev3.Type
		i   int
		r   types.Resource
	}
	out := make(map[resourcev3.Type][]encoded, len(res))
	var jobs []job
	for typ, list := range res {
		out[typ] = make([]encoded, len(list))
		for i, r := range list {
			if e, ok := prev[r]; ok {
				out[typ][i] = e
				continue
			}
			jobs = append(jobs, job{typ, i, r})
		}
	}
	workers := min(runtime.GOMAXPROCS(0), max(1, len(jobs)/64))
	errs := make([]error, workers)
	parts := make([]encodings, workers) // virtual hosts' encodings, per worker
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		parts[w] = make(encodings, len(prev)/workers)
		go func() {
			defer wg.Done()
			opts := proto.MarshalOptions{Deterministic: true}
			for k := w; k < len(jobs); k += workers {
				j := jobs[k]
				var b []byte
				var err error
				if rc, ok := j.r.(*routev3.RouteConfiguration); ok {
					b, err = encodeRouteConfig(rc, prev, parts[w], opts)
				} else {
					b, err = opts.Marshal(j.r)
				}
				if err != nil {
					errs[w] = fmt.Errorf("%s %s: %w", j.typ, cachev3.GetResourceName(j.r), err)
					return
				}
				e := encoded{name: cachev3.GetResourceName(j.r), raw: b, sum: sha256.Sum256(b)}
				e.hex = hex.EncodeToString(e.sum[:])
				if e.copy, err = premarshalled(j.typ, e); err != nil {
					errs[w] = err
					return
				}
				out[j.typ][j.i] = e
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, nil, err
		}
	}
	next := make(encodings, len(prev))
	for _, p := range parts {
		maps.Copy(next, p)
	}
	for typ, list := range res {
		for i, r := range list {
			next[r] = out[typ][i]
		}
	}
	return out, next, nil
}

// encodeRouteConfig encodes a route configuration around its virtual
// hosts' encodings, marshalling only the virtual hosts prev does not hold
// (a route edit among 1000 hosts changes one) and recording all of them in
// vh. Go's deterministic encoding writes fields in number order, so the
// configuration's bytes are its name (field 1), each virtual host (field
// 2), then everything else: the same bytes as marshalling it whole, which
// a test checks.
func encodeRouteConfig(rc *routev3.RouteConfiguration, prev, vh encodings, opts proto.MarshalOptions) ([]byte, error) {
	rest := &routev3.RouteConfiguration{}
	rc.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Number() != 2 {
			rest.ProtoReflect().Set(fd, v)
		}
		return true
	})
	head, err := opts.Marshal(rest)
	if err != nil {
		return nil, err
	}
	tail, err := afterName(head, rc.GetName())
	if err != nil {
		return nil, err
	}
	hosts := make([][]byte, len(rc.GetVirtualHosts()))
	size := len(head)
	for i, v := range rc.GetVirtualHosts() {
		e, ok := prev[v]
		if !ok {
			b, err := opts.Marshal(v)
			if err != nil {
				return nil, fmt.Errorf("virtual host %s: %w", v.GetName(), err)
			}
			e = encoded{name: v.GetName(), raw: b}
		}
		vh[v] = e
		hosts[i] = e.raw
		size += protowire.SizeTag(2) + protowire.SizeBytes(len(e.raw))
	}
	// Sized once: the configuration is most of a push's bytes.
	out := make([]byte, 0, size)
	out = append(out, head[:len(head)-len(tail)]...)
	for _, h := range hosts {
		out = protowire.AppendTag(out, 2, protowire.BytesType)
		out = protowire.AppendBytes(out, h)
	}
	return append(out, tail...), nil
}

// typeOrder fixes the order in which types enter content hashes.
var typeOrder = []resourcev3.Type{resourcev3.ListenerType, resourcev3.RouteType, resourcev3.ClusterType,
	resourcev3.EndpointType, resourcev3.SecretType, resourcev3.RuntimeType, resourcev3.ExtensionConfigType}

// typeHashes digests each type's encoding digests (the translators order
// resources, so equal input gives equal digests) and the whole set.
func typeHashes(enc map[resourcev3.Type][]encoded) (map[resourcev3.Type]string, string) {
	per := map[resourcev3.Type]string{}
	all := sha256.New()
	for _, t := range typeOrder {
		h := sha256.New()
		for _, e := range enc[t] {
			h.Write(e.sum[:])
		}
		sum := hex.EncodeToString(h.Sum(nil))[:12]
		per[t] = sum
		fmt.Fprintf(all, "%s %s\n", t, sum)
	}
	return per, hex.EncodeToString(all.Sum(nil))[:12]
}

// premarshalled builds the cache's copy of one resource (see above).
func premarshalled(typ resourcev3.Type, e encoded) (types.Resource, error) {
	var m types.Resource
	switch typ {
	case resourcev3.ListenerType:
		m = &listenerv3.Listener{Name: e.name}
	case resourcev3.RouteType:
		m = &routev3.RouteConfiguration{Name: e.name}
	case resourcev3.ClusterType:
		m = &clusterv3.Cluster{Name: e.name}
	case resourcev3.EndpointType:
		m = &endpointv3.ClusterLoadAssignment{ClusterName: e.name}
	case resourcev3.SecretType:
		m = &tlsv3.Secret{Name: e.name}
	default:
		return nil, fmt.Errorf("type %s cannot be served pre-marshalled", typ)
	}
	rest, err := afterName(e.raw, e.name)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", typ, e.name, err)
	}
	m.ProtoReflect().SetUnknown(rest)
	return m, nil
}

// afterName strips the leading name field (number 1) from an encoding.
func afterName(raw []byte, name string) ([]byte, error) {
	if name == "" {
		return raw, nil
	}
	num, typ, n := protowire.ConsumeTag(raw)
	if n < 0 || num != 1 || typ != protowire.BytesType {
		return nil, fmt.Errorf("encoding does not start with the name")
	}
	v, m := protowire.ConsumeBytes(raw[n:])
	if m < 0 || string(v) != name {
		return nil, fmt.Errorf("encoding does not start with the name")
	}
	return raw[n+m:], nil
}

// versionMap is the snapshot's per-resource versions for delta xDS, as
// go-control-plane's ConstructVersionMap would compute them (the SHA-256
// of the encoding, in hex) but from the digests already at hand instead
// of marshalling and hashing every resource again. Every type gets a map,
// empty or not, as there.
func versionMap(enc map[resourcev3.Type][]encoded) map[string]map[string]string {
	out := map[string]map[string]string{}
	for i := range types.UnknownType {
		url, err := cachev3.GetResponseTypeURL(i)
		if err != nil {
			continue
		}
		m := make(map[string]string, len(enc[url]))
		for _, e := range enc[url] {
			m[e.name] = e.hex
		}
		out[url] = m
	}
	return out
}
