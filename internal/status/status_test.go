package status

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

type result struct {
	Gateways []*gwapiv1.Gateway
	Names    []string // not objects: ignored
}

func gateway(programmed metav1.ConditionStatus) *gwapiv1.Gateway {
	gw := &gwapiv1.Gateway{ObjectMeta: metav1.ObjectMeta{Name: "eg", Namespace: "default", Generation: 2,
		Annotations: map[string]string{"kubectl.kubernetes.io/last-applied-configuration": "{}"}}}
	gw.Status.Conditions = []metav1.Condition{{Type: "Programmed", Status: programmed, Reason: "R", Message: "m"}}
	gw.Status.Listeners = []gwapiv1.ListenerStatus{{Name: "http", Conditions: []metav1.Condition{{Type: "Accepted", Status: "True", Reason: "Accepted"}}}}
	return gw
}

func TestFromResultAndTransitionTimes(t *testing.T) {
	clock := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var logs bytes.Buffer
	s := NewStore(func() time.Time { return clock }, slog.New(slog.NewTextHandler(&logs, nil)))

	objs, err := FromResult(&result{Gateways: []*gwapiv1.Gateway{gateway("True")}, Names: []string{"x"}})
	if err != nil || len(objs) != 1 {
		t.Fatalf("FromResult: %v %v", objs, err)
	}
	o := objs[0]
	if o.Kind != "Gateway" || o.APIVersion != "gateway.networking.k8s.io/v1" || o.Key() != "Gateway default/eg" {
		t.Fatalf("object = %+v", o)
	}
	if _, ok := o.Metadata["annotations"]; ok {
		t.Fatal("annotations must not be published")
	}
	s.Publish(objs)
	first := "2026-01-02T03:04:05Z"
	if got := cond(o.Status, "Programmed")["lastTransitionTime"]; got != first {
		t.Fatalf("lastTransitionTime = %v", got)
	}
	if !strings.Contains(logs.String(), "Programmed=True") {
		t.Fatalf("status change not logged: %s", logs.String())
	}

	// Same status later: time kept, nothing logged.
	clock = clock.Add(time.Hour)
	logs.Reset()
	objs, _ = FromResult(&result{Gateways: []*gwapiv1.Gateway{gateway("True")}})
	s.Publish(objs)
	if got := cond(objs[0].Status, "Programmed")["lastTransitionTime"]; got != first {
		t.Fatalf("unchanged condition got a new time: %v", got)
	}
	if logs.Len() != 0 {
		t.Fatalf("unchanged status logged: %s", logs.String())
	}

	// A flip gets the new time and is logged with its reason.
	objs, _ = FromResult(&result{Gateways: []*gwapiv1.Gateway{gateway("False")}})
	s.Publish(objs)
	if got := cond(objs[0].Status, "Programmed")["lastTransitionTime"]; got != "2026-01-02T04:04:05Z" {
		t.Fatalf("flipped condition time = %v", got)
	}
	if !strings.Contains(logs.String(), "Programmed=False(R: m)") || !strings.Contains(logs.String(), "listeners[http].Accepted=True") {
		t.Fatalf("log = %s", logs.String())
	}
}

func cond(status map[string]any, typ string) map[string]any {
	for _, c := range status["conditions"].([]any) {
		if m := c.(map[string]any); m["type"] == typ {
			return m
		}
	}
	return nil
}

// PublishResults reuses what it made of unchanged objects and must give
// exactly what Publish(FromResult) gives: objects, times and logs.
func TestPublishResultsMatchesPublish(t *testing.T) {
	clock := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	now := func() time.Time { return clock }
	var logsA, logsB bytes.Buffer
	a := NewStore(now, slog.New(slog.NewTextHandler(&logsA, &slog.HandlerOptions{ReplaceAttr: noTime})))
	b := NewStore(now, slog.New(slog.NewTextHandler(&logsB, &slog.HandlerOptions{ReplaceAttr: noTime})))
	other := func(name string, st metav1.ConditionStatus) *gwapiv1.Gateway {
		gw := gateway(st)
		gw.Name = name
		return gw
	}
	kept := other("kept", "True")
	dup1, dup2 := other("dup", "True"), other("dup", "False") // one key, two objects
	steps := []*result{
		{Gateways: []*gwapiv1.Gateway{gateway("True"), kept}},
		{Gateways: []*gwapiv1.Gateway{gateway("True"), kept}},
		{Gateways: []*gwapiv1.Gateway{gateway("False"), kept, dup1, dup2}},
		{Gateways: []*gwapiv1.Gateway{gateway("False"), kept, dup2}},
		{Gateways: []*gwapiv1.Gateway{kept, other("kept", "False"), dup2}},
		{Gateways: []*gwapiv1.Gateway{gateway("True"), kept, dup1}},
		{Gateways: []*gwapiv1.Gateway{gateway("True"), kept, dup1}},
	}
	for i, r := range steps {
		clock = clock.Add(time.Minute)
		objs, err := FromResult(r)
		if err != nil {
			t.Fatal(err)
		}
		want := a.Publish(objs)
		got, err := b.PublishResults(r)
		if err != nil {
			t.Fatal(err)
		}
		wj, _ := json.Marshal(want)
		gj, _ := json.Marshal(got)
		if string(wj) != string(gj) {
			t.Fatalf("step %d:\n got %s\nwant %s", i, gj, wj)
		}
		if logsA.String() != logsB.String() {
			t.Fatalf("step %d: logs\n got %s\nwant %s", i, logsB.String(), logsA.String())
		}
	}
}

func noTime(_ []string, a slog.Attr) slog.Attr {
	if a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}
