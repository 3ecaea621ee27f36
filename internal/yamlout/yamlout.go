// Package yamlout prints JSON-shaped values (what encoding/json decodes into
// an any, with UseNumber) as block-style YAML with sorted keys.
//
// It exists because converting JSON to YAML through a YAML library (decode
// the JSON as YAML, then encode) took 75% of `x translate`'s time and most
// of its memory at 1000 routes; printing the already-decoded tree directly
// is a single pass with no intermediate nodes.
package yamlout

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxImplicitKey leaves room under YAML's 1024-character limit for quotes
// and escapes.
const maxImplicitKey = 200

// Lazy is a value computed only when it is written, and dropped right after:
// a large document can then be printed one part at a time instead of being
// held in memory whole.
type Lazy func() (any, error)

// MarshalJSON lets encoding/json print a Lazy value too.
func (l Lazy) MarshalJSON() ([]byte, error) {
	v, err := l()
	if err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

// Marshal renders v, which must consist of map[string]any, []any, string,
// json.Number, float64, bool, nil and Lazy.
func Marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	if err := Write(&b, v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Write renders v to w, flushing as it goes: at most one Lazy part of the
// document is in memory at a time.
func Write(w io.Writer, v any) error {
	e := &emitter{w: w}
	if err := writeValue(e, v, 0, false); err != nil {
		return err
	}
	if e.Len() == 0 || e.Bytes()[e.Len()-1] != '\n' {
		e.WriteByte('\n')
	}
	return e.flush()
}

// emitter buffers output and hands it to w in large chunks, at line
// boundaries only (writeBlock trims the buffer's last byte).
type emitter struct {
	bytes.Buffer
	w   io.Writer
	err error
}

const flushSize = 256 << 10

// lineDone is called after a complete line; it flushes a full buffer.
func (e *emitter) lineDone() error {
	if e.Len() < flushSize || e.w == nil {
		return nil
	}
	return e.flush()
}

func (e *emitter) flush() error {
	if e.w == nil {
		return nil
	}
	if _, err := e.w.Write(e.Bytes()); err != nil {
		return err
	}
	e.Reset()
	return nil
}

// ahead resolves a list's items in order on another goroutine, a few ahead
// of the writer, so that building one part and printing the one before it
// use two cores. Items come back in list order, so output is unchanged.
func ahead(items []any) (next func() (any, error), stop func()) {
	type result struct {
		v   any
		err error
	}
	ch := make(chan result, 4)
	done := make(chan struct{})
	go func() {
		defer close(ch)
		for _, it := range items {
			v, err := resolve(it)
			select {
			case ch <- result{v, err}:
			case <-done:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	next = func() (any, error) {
		r, ok := <-ch
		if !ok {
			return nil, fmt.Errorf("yamlout: list ended early")
		}
		return r.v, r.err
	}
	return next, func() { close(done) }
}

// resolve computes a Lazy value; other values pass through.
func resolve(v any) (any, error) {
	if l, ok := v.(Lazy); ok {
		return l()
	}
	return v, nil
}

// writeValue writes v at the given indentation. inline is true when v
// follows "key:" or "- " on the same line.
func writeValue(b *emitter, v any, indent int, inline bool) error {
	v, err := resolve(v)
	if err != nil {
		return err
	}
	switch t := v.(type) {
	case map[string]any:
		if len(t) == 0 {
			b.WriteString("{}\n")
			return nil
		}
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for i, k := range keys {
			if i > 0 || !inline {
				writeIndent(b, indent)
			}
			if len(k) > maxImplicitKey {
				// YAML limits implicit keys to 1024 characters; longer
				// ones need the explicit "? key" form.
				b.WriteString("? ")
				writeString(b, k, indent+2, true)
				b.WriteByte('\n')
				writeIndent(b, indent)
			} else {
				writeString(b, k, indent, true)
			}
			b.WriteByte(':')
			if err := writeMember(b, t[k], indent); err != nil {
				return err
			}
			if err := b.lineDone(); err != nil {
				return err
			}
		}
	case []any:
		if len(t) == 0 {
			b.WriteString("[]\n")
			return nil
		}
		var next func() (any, error)
		if _, lazy := t[0].(Lazy); lazy && len(t) > 1 {
			n, stop := ahead(t)
			defer stop()
			next = n
		}
		for i, item := range t {
			if next != nil {
				v, err := next()
				if err != nil {
					return err
				}
				item = v
			}
			if i > 0 || !inline {
				writeIndent(b, indent)
			}
			b.WriteString("- ")
			if err := writeItem(b, item, indent+2); err != nil {
				return err
			}
			if err := b.lineDone(); err != nil {
				return err
			}
		}
	default:
		if err := writeScalar(b, v, indent); err != nil {
			return err
		}
		b.WriteByte('\n')
	}
	return nil
}

// writeMember writes a mapping value after "key:". Nested mappings go on
// the next lines indented by two; sequences stay at the key's indentation,
// as yaml.v2 (and so kubectl and egctl) print them.
func writeMember(b *emitter, v any, indent int) error {
	v, err := resolve(v)
	if err != nil {
		return err
	}
	switch t := v.(type) {
	case map[string]any:
		if len(t) == 0 {
			b.WriteString(" {}\n")
			return nil
		}
		b.WriteByte('\n')
		return writeValue(b, t, indent+2, false)
	case []any:
		if len(t) == 0 {
			b.WriteString(" []\n")
			return nil
		}
		b.WriteByte('\n')
		return writeValue(b, t, indent, false)
	default:
		b.WriteByte(' ')
		if err := writeScalar(b, v, indent+2); err != nil {
			return err
		}
		b.WriteByte('\n')
		return nil
	}
}

// writeItem writes a sequence item after "- ".
func writeItem(b *emitter, v any, indent int) error {
	v, err := resolve(v)
	if err != nil {
		return err
	}
	switch t := v.(type) {
	case map[string]any, []any:
		if isEmpty(t) {
			return writeValue(b, t, indent, true)
		}
		return writeValue(b, t, indent, true)
	default:
		if err := writeScalar(b, v, indent); err != nil {
			return err
		}
		b.WriteByte('\n')
		return nil
	}
}

func isEmpty(v any) bool {
	switch t := v.(type) {
	case map[string]any:
		return len(t) == 0
	case []any:
		return len(t) == 0
	}
	return false
}

func writeIndent(b *emitter, n int) {
	for i := 0; i < n; i++ {
		b.WriteByte(' ')
	}
}

func writeScalar(b *emitter, v any, indent int) error {
	switch t := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(t))
	case json.Number:
		b.WriteString(t.String())
	case float64:
		b.WriteString(strconv.FormatFloat(t, 'g', -1, 64))
	case int:
		b.WriteString(strconv.Itoa(t))
	case int64:
		b.WriteString(strconv.FormatInt(t, 10))
	case string:
		writeString(b, t, indent, false)
	default:
		return fmt.Errorf("yamlout: unsupported value of type %T", v)
	}
	return nil
}

// writeString writes s plain when YAML would read it back as the same
// string, as a literal block when it is multi-line text, and quoted
// otherwise.
func writeString(b *emitter, s string, indent int, isKey bool) {
	// Invalid UTF-8 becomes U+FFFD, as encoding/json does: YAML is UTF-8
	// text and has no escape for a raw byte.
	s = validUTF8(s)
	switch {
	case plainSafe(s):
		b.WriteString(s)
	case s == "":
		b.WriteString(`""`)
	case s == strings.TrimSpace(s) && looksLikeOtherType(s):
		// As yaml.v2 (kubectl, egctl) does: "True", "3000".
		b.WriteString(strconv.Quote(s))
	case !isKey && blockSafe(s):
		writeBlock(b, s, indent)
	case !strings.ContainsAny(s, "'\n\r\t") && printable(s):
		b.WriteByte('\'')
		b.WriteString(s)
		b.WriteByte('\'')
	default:
		b.WriteString(strconv.Quote(s))
	}
}

// writeBlock writes a literal block scalar ("|" keeps the final newline,
// "|-" strips it).
func writeBlock(b *emitter, s string, indent int) {
	body := s
	if strings.HasSuffix(s, "\n") {
		b.WriteString("|\n")
		body = strings.TrimSuffix(s, "\n")
	} else {
		b.WriteString("|-\n")
	}
	for _, line := range strings.Split(body, "\n") {
		if line != "" {
			writeIndent(b, indent)
			b.WriteString(line)
		}
		b.WriteByte('\n')
	}
	// The caller adds a newline after every scalar; a block already ended.
	b.Truncate(b.Len() - 1)
}

// blockSafe reports whether s can be a literal block: multi-line, printable,
// no tabs or carriage returns, no leading space on the first non-empty line
// (that would need an indentation indicator), and at most one trailing newline.
func blockSafe(s string) bool {
	if !strings.Contains(strings.TrimSuffix(s, "\n"), "\n") {
		return false
	}
	if strings.HasSuffix(s, "\n\n") || strings.ContainsAny(s, "\r\t") || !printable(s) {
		return false
	}
	// The block's indentation is taken from its first non-empty line, so
	// that line must not start with a space.
	if first := strings.TrimLeft(s, "\n"); strings.HasPrefix(first, " ") {
		return false
	}
	for _, line := range strings.Split(s, "\n") {
		if strings.HasSuffix(line, " ") {
			return false
		}
	}
	return true
}

// printable reports whether every character is in YAML's printable set
// (tab, newline and carriage return are judged by the callers).
func printable(s string) bool {
	for _, r := range s {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
		case r >= 0x20 && r <= 0x7e:
		case r == 0x2028 || r == 0x2029:
			// YAML 1.1 line breaks (as is U+0085, outside the ranges):
			// only an escape keeps them inside one scalar.
			return false
		case r >= 0xa0 && r <= 0xd7ff, r >= 0xe000 && r <= 0xfffd && r != 0xfeff, r >= 0x10000 && r <= 0x10ffff:
		default:
			return false
		}
	}
	return true
}

// plainSafe reports whether s can be written unquoted and read back as the
// same string by a YAML 1.1 or 1.2 parser. It is one pass over the bytes:
// it runs on every string of a large output.
func plainSafe(s string) bool {
	if s == "" || s[0] == ' ' || s[len(s)-1] == ' ' || s[len(s)-1] == ':' {
		return false
	}
	if strings.IndexByte("-?:,[]{}#&*!|>'\"%@`", s[0]) >= 0 {
		// "-" and "?" and ":" are plain when followed by a non-space, but
		// quoting them too keeps the rule simple and the output valid.
		return false
	}
	checkedRunes := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c < 0x20 || c == 0x7f:
			return false // control characters, tab, newline
		case c >= 0x80:
			// Non-ASCII: judge the runes once.
			if !checkedRunes && !printable(s) {
				return false
			}
			checkedRunes = true
		case c == ':' && i+1 < len(s) && s[i+1] == ' ':
			return false
		case c == '#' && s[i-1] == ' ':
			return false
		}
	}
	if looksLikeOtherType(s) || s == "<<" || s == "=" {
		// "<<" is YAML 1.1's merge key and "=" its value key.
		return false
	}
	return true
}

// looksLikeOtherType catches strings that YAML 1.1 resolves to booleans,
// nulls, numbers or timestamps.
func looksLikeOtherType(s string) bool {
	if len(s) <= 5 {
		switch strings.ToLower(s) {
		case "y", "n", "yes", "no", "on", "off", "true", "false", "null", "~",
			".inf", "-.inf", "+.inf", ".nan":
			return true
		}
	}
	c := s[0]
	if !(c == '+' || c == '-' || c == '.' || (c >= '0' && c <= '9')) {
		return false
	}
	if _, err := strconv.ParseFloat(strings.ReplaceAll(s, "_", ""), 64); err == nil {
		return true
	}
	if _, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 0, 64); err == nil {
		return true
	}
	return sexagesimal.MatchString(s) || timestamp.MatchString(s)
}

var (
	sexagesimal = regexp.MustCompile(`^[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?$`)
	timestamp   = regexp.MustCompile(`^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}`)
)

// validUTF8 replaces each invalid byte with U+FFFD, byte by byte, exactly as
// encoding/json does.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteRune(utf8.RuneError)
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}
