// Package conditions is the one helper for status conditions that every
// stage shares (the translators, the pipeline, the runner's view): replace
// a condition of the same type or append it, and find one. Conditions carry
// no transition time here; the status writer (package status) owns the
// clock.
package conditions

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// Set replaces the condition of c's type in conds, or appends c, and
// returns the list.
func Set(conds []metav1.Condition, c metav1.Condition) []metav1.Condition {
	if old := Find(conds, c.Type); old != nil {
		*old = c
		return conds
	}
	return append(conds, c)
}

// Find returns the condition of the given type, or nil.
func Find(conds []metav1.Condition, condType string) *metav1.Condition {
	for i := range conds {
		if conds[i].Type == condType {
			return &conds[i]
		}
	}
	return nil
}
