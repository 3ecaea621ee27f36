package yamlout

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"sigs.k8s.io/yaml"
)

// roundTrip checks that a YAML parser reads back exactly what was written.
func roundTrip(t *testing.T, v any) string {
	t.Helper()
	out, err := Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	js, err := yaml.YAMLToJSON(out)
	if err != nil {
		t.Fatalf("output is not YAML: %v\n%s", err, out)
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	var back any
	if err := dec.Decode(&back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(normalize(v), back) {
		t.Fatalf("round trip changed the value:\nwant %#v\ngot  %#v\nyaml:\n%s", v, back, out)
	}
	return string(out)
}

// normalize turns float64 into json.Number as the decoder above yields.
func normalize(v any) any {
	data, _ := json.Marshal(v)
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var out any
	_ = dec.Decode(&out)
	return out
}

func TestRoundTrip(t *testing.T) {
	tricky := []string{
		"", " lead", "trail ", "yes", "No", "on", "null", "~", "true", "1", "1.5", "0x1F", "1e3", "-", "- a",
		"a: b", "a #b", "#c", "@type", "*", "*.example.com", "'q'", `"dq"`, "%s", "key:", "a\tb",
		"multi\nline\n", "multi\nline", "  indented\nblock", "trailing \nspace", "crlf\r\n", "\x01ctl",
		"ünïcödé", "2026-11-27", ":authority", "%REQ(:AUTHORITY)%", "x\n\n", "|", ">", "!tag", "&anchor", "[a]", "{a}",
	}
	for _, s := range tricky {
		roundTrip(t, map[string]any{"k": s, s: "v", "list": []any{s}})
	}
	out := roundTrip(t, map[string]any{
		"b": []any{map[string]any{"x": 1.0, "y": []any{}}, []any{"n"}, map[string]any{}},
		"a": map[string]any{"n": nil, "t": true, "num": json.Number("12345678901234567890")},
	})
	want := "a:\n  \"n\": null\n  num: 12345678901234567890\n  t: true\nb:\n- x: 1\n  \"y\": []\n- - \"n\"\n- {}\n"
	if out != want {
		t.Fatalf("layout:\n%s\nwant:\n%s", out, want)
	}
}

func FuzzRoundTrip(f *testing.F) {
	for _, s := range []string{"", "a: b", "multi\nline\n", "yes", "@x", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		roundTrip(t, map[string]any{s: []any{s, map[string]any{"k": s}}})
	})
}

// TestLazyValuesAreWrittenInPlace: a Lazy value prints as the value it
// computes, in maps and lists, and a streamed write equals Marshal.
func TestLazyValuesAreWrittenInPlace(t *testing.T) {
	calls := 0
	lazy := func(v any) Lazy {
		return func() (any, error) { calls++; return v, nil }
	}
	doc := map[string]any{
		"a": lazy(map[string]any{"x": []any{lazy("one"), lazy(map[string]any{"y": "two"})}}),
		"b": []any{lazy([]any{"n1", "n2"}), lazy(map[string]any{})},
	}
	plain := map[string]any{
		"a": map[string]any{"x": []any{"one", map[string]any{"y": "two"}}},
		"b": []any{[]any{"n1", "n2"}, map[string]any{}},
	}
	got, err := Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := Marshal(plain)
	if string(got) != string(want) {
		t.Fatalf("lazy:\n%s\nplain:\n%s", got, want)
	}
	var streamed bytes.Buffer
	if err := Write(&streamed, doc); err != nil {
		t.Fatal(err)
	}
	if streamed.String() != string(want) {
		t.Fatalf("streamed:\n%s\nwant:\n%s", streamed.String(), want)
	}
	if calls != 10 {
		t.Fatalf("lazy values computed %d times, want 10 (once per write)", calls)
	}
	js, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	if wantJS, _ := json.Marshal(plain); string(js) != string(wantJS) {
		t.Fatalf("json: %s, want %s", js, wantJS)
	}
}

// TestWriteLargeDocumentInChunks checks output past the flush size is whole.
func TestWriteLargeDocumentInChunks(t *testing.T) {
	var items []any
	for i := 0; i < 20000; i++ {
		items = append(items, map[string]any{"name": "item", "multi": "line one\nline two\n"})
	}
	var b bytes.Buffer
	if err := Write(&b, map[string]any{"items": items}); err != nil {
		t.Fatal(err)
	}
	roundTrip(t, map[string]any{"items": items[:50]})
	if b.Len() < flushSize {
		t.Fatalf("document too small to test chunking: %d bytes", b.Len())
	}
	m, _ := Marshal(map[string]any{"items": items})
	if b.String() != string(m) {
		t.Fatal("chunked write differs from Marshal")
	}
}
