package resource

import (
	"strconv"
	"strings"
)

// pathElem is one step of a field path: a field name (index < 0), a list index, or a
// map key (mapKey true, rendered as [key] like the API server does for labels).
type pathElem struct {
	key    string
	index  int
	mapKey bool
}

func fieldElem(name string) pathElem { return pathElem{key: name, index: -1} }
func keyElem(k string) pathElem      { return pathElem{key: k, index: -1, mapKey: true} }
func indexElem(i int) pathElem       { return pathElem{index: i} }

// renderPath prints a path the way Kubernetes field errors do: spec.rules[0].matches[0].
func renderPath(path []pathElem) string {
	var b strings.Builder
	for _, e := range path {
		switch {
		case e.index >= 0:
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(e.index))
			b.WriteByte(']')
		case e.mapKey:
			b.WriteByte('[')
			b.WriteString(e.key)
			b.WriteByte(']')
		default:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(e.key)
		}
	}
	return b.String()
}

// clonePath copies a path stack so a recorded problem does not alias the walker's stack.
func clonePath(p []pathElem) []pathElem { return append([]pathElem(nil), p...) }
