package resource

import (
	"bytes"
	"strings"
)

// stripDescriptions removes `description:` entries from a CRD's YAML text before it is
// parsed. Descriptions are most of a CRD's bytes (the HTTPRoute CRD shrinks ~3x) and the
// validator never reads them, so this cuts the one-time compile cost of a kind, which a
// one-shot `portico x translate` pays on every run.
//
// The cut is line-based over block-style YAML (what controller-gen writes): a
// description key and every following line indented deeper than it go. A property that
// is itself NAMED "description" (a key directly under `properties:`) is kept. A test
// checks that the stripped and unstripped parses of every embedded CRD agree.
func stripDescriptions(data []byte) []byte {
	type frame struct {
		indent int
		key    string
	}
	var stack []frame
	out := make([]byte, 0, len(data)/2)
	skipDeeper := -1 // while >= 0, drop lines indented deeper than this
	for len(data) > 0 {
		nl := bytes.IndexByte(data, '\n')
		var line []byte
		if nl < 0 {
			line, data = data, nil
		} else {
			line, data = data[:nl+1], data[nl+1:]
		}
		text := strings.TrimRight(string(line), "\r\n")
		trimmed := strings.TrimLeft(text, " ")
		indent := len(text) - len(trimmed)
		if trimmed == "" || trimmed[0] == '#' {
			if skipDeeper < 0 {
				out = append(out, line...)
			}
			continue
		}
		if skipDeeper >= 0 {
			if indent > skipDeeper {
				continue
			}
			skipDeeper = -1
		}
		keyIndent, rest := indent, trimmed
		for strings.HasPrefix(rest, "- ") { // "- key: v" puts key two columns right
			keyIndent += 2
			rest = strings.TrimLeft(rest[2:], " ")
			keyIndent += len(rest) - len(strings.TrimLeft(rest, " "))
		}
		key := ""
		if i := strings.Index(rest, ":"); i > 0 && (i+1 == len(rest) || rest[i+1] == ' ') {
			key = rest[:i]
		}
		for len(stack) > 0 && stack[len(stack)-1].indent >= keyIndent {
			stack = stack[:len(stack)-1]
		}
		parent := ""
		if len(stack) > 0 {
			parent = stack[len(stack)-1].key
		}
		if key == "description" && parent != "properties" && keyIndent == indent {
			skipDeeper = indent
			continue
		}
		if key != "" {
			stack = append(stack, frame{indent: keyIndent, key: key})
		}
		out = append(out, line...)
	}
	return out
}
