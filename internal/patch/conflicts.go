package patch

import (
	"fmt"
	"sort"
	"strings"

	"github.com/portico-gw/portico/internal/ir"
)

// touches records, per resource, which policy patched which JSON Pointer.
// Envoy Gateway applies overlapping policies silently, the later one
// winning; here each of them is told about the other, because two teams
// patching the same field is almost always a mistake nobody sees.
type touches map[string][]touch

type touch struct {
	policy  int
	pointer string
}

func (t touches) add(k kind, name string, policy int, pointer string) {
	if pointer == "" {
		return // a whole new resource: nothing of another policy's to overlap
	}
	key := k.String() + "/" + name
	t[key] = append(t[key], touch{policy, pointer})
}

// overlaps reports whether one pointer is the other or one of its parents.
func overlaps(a, b string) bool {
	if len(a) > len(b) {
		a, b = b, a
	}
	return a == b || strings.HasPrefix(b, a+"/")
}

// conflicts adds, to each policy involved, one warning per other policy and
// resource, naming the other policy and the path.
func (t touches) conflicts(policies []*ir.EnvoyPatchPolicy, statuses []Status) {
	keys := make([]string, 0, len(t))
	for k := range t {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		ts := t[key]
		seen := map[[2]int]bool{}
		for i, a := range ts {
			for _, b := range ts[i+1:] {
				if a.policy == b.policy || !overlaps(a.pointer, b.pointer) {
					continue
				}
				for _, pair := range [][2]touch{{a, b}, {b, a}} {
					me, other := pair[0], pair[1]
					if seen[[2]int{me.policy, other.policy}] {
						continue
					}
					seen[[2]int{me.policy, other.policy}] = true
					op := policies[other.policy]
					statuses[me.policy].Conflicts = append(statuses[me.policy].Conflicts,
						fmt.Sprintf("EnvoyPatchPolicy %s/%s (priority %d) also patches %s at %s",
							op.Namespace, op.Name, op.Priority, key, other.pointer))
				}
			}
		}
	}
}
