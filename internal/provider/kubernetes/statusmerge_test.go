package kubernetes

import (
	"encoding/json"
	"testing"
)

func js(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestMergeStatus(t *testing.T) {
	const ours = "gateway.envoyproxy.io/gatewayclass-controller"
	old := js(t, `{"parents":[
		{"parentRef":{"name":"eg"},"controllerName":"`+ours+`","conditions":[
			{"type":"Accepted","status":"True","reason":"Accepted","lastTransitionTime":"2020-01-01T00:00:00Z"},
			{"type":"ResolvedRefs","status":"True","reason":"ResolvedRefs","lastTransitionTime":"2020-01-01T00:00:00Z"}]},
		{"parentRef":{"name":"other"},"controllerName":"example.com/other","conditions":[
			{"type":"Accepted","status":"True","reason":"Accepted","lastTransitionTime":"2019-01-01T00:00:00Z"}]}]}`)
	want := js(t, `{"parents":[
		{"parentRef":{"name":"eg"},"controllerName":"`+ours+`","conditions":[
			{"type":"Accepted","status":"True","reason":"Accepted","lastTransitionTime":"2026-12-04T10:00:00Z"},
			{"type":"ResolvedRefs","status":"False","reason":"BackendNotFound","lastTransitionTime":""}]}]}`)
	got := mergeStatus(want, old, ours, "2026-12-04T11:00:00Z")
	expect := js(t, `{"parents":[
		{"parentRef":{"name":"eg"},"controllerName":"`+ours+`","conditions":[
			{"type":"Accepted","status":"True","reason":"Accepted","lastTransitionTime":"2020-01-01T00:00:00Z"},
			{"type":"ResolvedRefs","status":"False","reason":"BackendNotFound","lastTransitionTime":"2026-12-04T11:00:00Z"}]},
		{"parentRef":{"name":"other"},"controllerName":"example.com/other","conditions":[
			{"type":"Accepted","status":"True","reason":"Accepted","lastTransitionTime":"2019-01-01T00:00:00Z"}]}]}`)
	if !equalIgnoringTimes(got, expect) {
		t.Fatalf("merged = %v", got)
	}
	gb, _ := json.Marshal(got)
	eb, _ := json.Marshal(expect)
	if string(gb) != string(eb) {
		t.Fatalf("transition times:\n got %s\nwant %s", gb, eb)
	}
	// Neither input was changed.
	if ob, _ := json.Marshal(old); len(ob) == 0 || equalIgnoringTimes(old, got) {
		t.Fatal("old changed")
	}
}

// A status equal but for transition times is not written again.
func TestEqualIgnoringTimes(t *testing.T) {
	a := js(t, `{"conditions":[{"type":"Accepted","status":"True","lastTransitionTime":"2020-01-01T00:00:00Z","observedGeneration":1}]}`)
	b := js(t, `{"conditions":[{"type":"Accepted","status":"True","lastTransitionTime":"2026-01-01T00:00:00Z","observedGeneration":1}]}`)
	c := js(t, `{"conditions":[{"type":"Accepted","status":"True","lastTransitionTime":"2026-01-01T00:00:00Z","observedGeneration":2}]}`)
	if !equalIgnoringTimes(a, b) || equalIgnoringTimes(a, c) {
		t.Fatal("equalIgnoringTimes")
	}
}
