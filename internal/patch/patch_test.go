package patch

import (
	"encoding/json"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/portico-gw/portico/internal/ir"
	"github.com/portico-gw/portico/internal/xds/translator"
	"github.com/portico-gw/portico/internal/xds/xdstypes"
)

func baseResources(t testing.TB) (*ir.Xds, *xdstypes.Resources) {
	x := loadIR(t, "testdata/base.yaml")
	res, err := translator.Translate(x)
	if err != nil {
		t.Fatal(err)
	}
	return x, res
}

func ptr(s string) *string { return &s }

// Apply must leave its input untouched: the unpatched snapshot is what the
// next translation and --diff compare with.
func TestApplyDoesNotMutateInput(t *testing.T) {
	_, res := baseResources(t)
	orig := proto.Clone(res.Clusters[0])
	p := &ir.EnvoyPatchPolicy{Name: "p", Namespace: "default", JSONPatches: []*ir.JSONPatchConfig{{
		Type: ClusterType, Name: res.Clusters[0].Name,
		Operation: ir.JSONPatchOperation{Op: "replace", Path: ptr("/connect_timeout"), Value: "3s"},
	}}}
	patched, st := Apply(res, []*ir.EnvoyPatchPolicy{p}, Options{})
	if st[0].Programmed.Status != "True" {
		t.Fatal(st[0])
	}
	if !proto.Equal(orig, res.Clusters[0]) {
		t.Error("input cluster was modified")
	}
	if patched.Clusters[0].ConnectTimeout.Seconds != 3 {
		t.Error("patch not applied")
	}
}

// A nil policy, a nil patch and nil resources are tolerated.
func TestApplyNil(t *testing.T) {
	out, st := Apply(nil, []*ir.EnvoyPatchPolicy{nil, {Name: "p", JSONPatches: []*ir.JSONPatchConfig{nil}}}, Options{})
	if out == nil || len(st) != 2 || st[1].Programmed.Status != "True" {
		t.Fatalf("%v %v", out, st)
	}
}

// FuzzApply: whatever a policy says, Apply never panics, returns one status
// per policy, and every resource it returns still validates.
func FuzzApply(f *testing.F) {
	f.Add(0, "add", "/default_filter_chain/filters/0/typed_config/local_reply_config", "", "", `{"mappers":[]}`)
	f.Add(1, "add", "include_attempt_count_in_response", "..virtual_hosts[?match(@.name, '.*www_example_com')]", "", `true`)
	f.Add(2, "move", "/a", "", "/connect_timeout", ``)
	f.Add(3, "remove", "", "$.endpoints[*]", "", ``)
	f.Add(4, "add", "", "", "", `{"name":"x"}`)
	f.Add(2, "copy", "/name", "$", "/type", `1`)
	f.Add(1, "replace", "/virtual_hosts/0/routes/-1", "", "", `null`)
	_, res := baseResources(f)
	f.Fuzz(func(t *testing.T, k int, op, path, jsonPath, from, value string) {
		kk := kind(((k % int(numKinds)) + int(numKinds)) % int(numKinds))
		var v any
		if value != "" {
			_ = json.Unmarshal([]byte(value), &v)
		}
		o := ir.JSONPatchOperation{Op: op, Value: v}
		if path != "" || k%3 == 0 {
			o.Path = &path
		}
		if jsonPath != "" {
			o.JSONPath = &jsonPath
		}
		if from != "" {
			o.From = &from
		}
		l := fromResources(res)
		name := "missing"
		if len(l[kk]) > 0 {
			name = nameOf(l[kk][0])
		}
		pols := []*ir.EnvoyPatchPolicy{
			{Name: "fuzz", JSONPatches: []*ir.JSONPatchConfig{{Type: kk.String(), Name: name, Operation: o}}},
			{Name: "good", JSONPatches: []*ir.JSONPatchConfig{{Type: ClusterType, Name: res.Clusters[0].Name,
				Operation: ir.JSONPatchOperation{Op: "add", Path: ptr("/per_connection_buffer_limit_bytes"), Value: 1.0}}}},
		}
		out, st := Apply(res, pols, Options{RecordChanges: true})
		if len(st) != 2 {
			t.Fatalf("%d statuses", len(st))
		}
		if st[1].Programmed.Status != "True" {
			t.Fatalf("the good policy was blocked: %v", st[1])
		}
		for _, ms := range fromResources(out) {
			for _, m := range ms {
				if err := validate(m); err != nil {
					t.Fatalf("invalid resource returned: %v", err)
				}
			}
		}
	})
}
