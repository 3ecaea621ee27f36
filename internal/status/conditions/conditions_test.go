package conditions

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestSetReplacesOrAppends(t *testing.T) {
	var cs []metav1.Condition
	cs = Set(cs, metav1.Condition{Type: "Accepted", Status: "True"})
	cs = Set(cs, metav1.Condition{Type: "Programmed", Status: "False"})
	cs = Set(cs, metav1.Condition{Type: "Accepted", Status: "False", Reason: "Invalid"})
	if len(cs) != 2 || cs[0].Type != "Accepted" || cs[0].Status != "False" || cs[0].Reason != "Invalid" || cs[1].Type != "Programmed" {
		t.Fatalf("%+v", cs)
	}
	if c := Find(cs, "Programmed"); c == nil || c.Status != "False" {
		t.Errorf("Find: %+v", c)
	}
	if Find(cs, "ResolvedRefs") != nil {
		t.Error("Find invented a condition")
	}
	Find(cs, "Programmed").Status = "True"
	if cs[1].Status != "True" {
		t.Error("Find does not point into the list")
	}
}
