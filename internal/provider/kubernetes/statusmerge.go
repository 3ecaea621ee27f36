package kubernetes

import (
	"encoding/json"
	"reflect"
)

// mergeStatus returns the status to write: want (what the pipeline
// computed, as plain JSON values) with
//   - the entries of status.parents and status.ancestors that other
//     controllers own, from old, kept after ours;
//   - every condition whose status did not change keeping old's
//     lastTransitionTime, and any condition without one stamped now.
//
// want and old are not modified.
func mergeStatus(want, old any, controller, now string) any {
	next := deepCopy(want)
	nm, ok := next.(map[string]any)
	if !ok {
		return next
	}
	if om, ok := old.(map[string]any); ok {
		for _, field := range []string{"parents", "ancestors"} {
			prev, _ := om[field].([]any)
			for _, e := range prev {
				em, _ := e.(map[string]any)
				if c, _ := em["controllerName"].(string); c != "" && c != controller {
					list, _ := nm[field].([]any)
					nm[field] = append(list, e)
				}
			}
		}
	}
	carryTimes(nm, old, now)
	return nm
}

// carryTimes walks n and its counterpart o (maps by key, lists by each
// element's identity) and settles the transition times of conditions.
func carryTimes(n, o any, now string) {
	switch nv := n.(type) {
	case map[string]any:
		om, _ := o.(map[string]any)
		for k, v := range nv {
			if k == "conditions" {
				list, _ := v.([]any)
				prev, _ := om["conditions"].([]any)
				carryConditions(list, prev, now)
				continue
			}
			carryTimes(v, om[k], now)
		}
	case []any:
		ol, _ := o.([]any)
		for i, e := range nv {
			carryTimes(e, counterpart(e, i, ol), now)
		}
	}
}

// counterpart finds e's element in old: the one with the same identity
// (a listener's name, a route parent's parentRef and controller, a
// policy's ancestorRef and controller), else the one at the same index.
func counterpart(e any, i int, old []any) any {
	id := identity(e)
	if id != "" {
		for _, x := range old {
			if identity(x) == id {
				return x
			}
		}
		return nil
	}
	if i < len(old) {
		return old[i]
	}
	return nil
}

func identity(e any) string {
	m, ok := e.(map[string]any)
	if !ok {
		return ""
	}
	for _, k := range []string{"parentRef", "ancestorRef", "name"} {
		if v, ok := m[k]; ok {
			b, _ := json.Marshal([]any{k, v, m["controllerName"]})
			return string(b)
		}
	}
	return ""
}

func carryConditions(list, prev []any, now string) {
	for _, c := range list {
		cm, ok := c.(map[string]any)
		if !ok {
			continue
		}
		for _, p := range prev {
			pm, _ := p.(map[string]any)
			if pm["type"] == cm["type"] && pm["status"] == cm["status"] {
				if t, _ := pm["lastTransitionTime"].(string); t != "" {
					cm["lastTransitionTime"] = t
				}
				break
			}
		}
		if t, _ := cm["lastTransitionTime"].(string); t == "" {
			cm["lastTransitionTime"] = now
		}
	}
}

// equalIgnoringTimes compares two plain JSON statuses without their
// conditions' lastTransitionTime.
func equalIgnoringTimes(a, b any) bool {
	return reflect.DeepEqual(withoutTimes(a), withoutTimes(b))
}

func withoutTimes(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			if k == "lastTransitionTime" {
				continue
			}
			out[k] = withoutTimes(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = withoutTimes(e)
		}
		return out
	}
	return v
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = deepCopy(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = deepCopy(e)
		}
		return out
	}
	return v
}
