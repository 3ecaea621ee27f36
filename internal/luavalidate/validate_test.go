package luavalidate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	luav3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/lua/v3"
	"google.golang.org/protobuf/types/known/anypb"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
	"github.com/portico-gw/portico/internal/proxy/filters"
)

func scripts(t *testing.T, dir string) map[string]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", dir, "*.lua"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts in %s: %v", dir, err)
	}
	out := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(f)] = string(b)
	}
	return out
}

func fresh() *Validator { return &Validator{Limits: DefaultLimits} }

// Every script shaped like Envoy's documented examples passes Strict.
func TestValidCorpus(t *testing.T) {
	v := fresh()
	fc := map[string]any{"custom_value": "hello"}
	for name, code := range scripts(t, "valid") {
		if err := v.Validate(code, egv1a1.LuaValidationStrict, fc); err != nil {
			t.Errorf("%s rejected: %v", name, err)
		}
	}
}

// Every hostile script is rejected by Strict, quickly.
func TestHostileCorpus(t *testing.T) {
	v := fresh()
	for name, code := range scripts(t, "hostile") {
		start := time.Now()
		err := v.Validate(code, egv1a1.LuaValidationStrict, nil)
		if err == nil {
			t.Errorf("%s accepted", name)
			continue
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%s took %v", name, d)
		}
		t.Logf("%s: %v", name, err)
	}
}

func TestSyntaxErrorMessage(t *testing.T) {
	code := "function envoy_on_response(response_handle)\n  response_handle:headers():add(\"x\", \"y\"\nend\n"
	for _, mode := range []egv1a1.LuaValidation{egv1a1.LuaValidationStrict, egv1a1.LuaValidationInsecureSyntax} {
		err := fresh().Validate(code, mode, nil)
		if err == nil || !strings.Contains(err.Error(), "line:3(column:3) near 'end': syntax error") {
			t.Errorf("%s: %v", mode, err)
		}
	}
	if err := fresh().Validate(code, egv1a1.LuaValidationDisabled, nil); err != nil {
		t.Errorf("Disabled: %v", err)
	}
}

// InsecureSyntax only parses: a sandbox violation passes.
func TestInsecureSyntaxOnlyParses(t *testing.T) {
	code := "function envoy_on_request(h) os.execute('x') end"
	if err := fresh().Validate(code, egv1a1.LuaValidationInsecureSyntax, nil); err != nil {
		t.Fatal(err)
	}
	if err := fresh().Validate(code, egv1a1.LuaValidationStrict, nil); err == nil {
		t.Fatal("Strict accepted os.execute")
	}
}

func TestCacheIsKeyedByMode(t *testing.T) {
	v := fresh()
	code := "function envoy_on_request(h) io.write('x') end"
	if err := v.Validate(code, egv1a1.LuaValidationInsecureSyntax, nil); err != nil {
		t.Fatal(err)
	}
	if err := v.Validate(code, egv1a1.LuaValidationStrict, nil); err == nil {
		t.Fatal("cached InsecureSyntax verdict reused for Strict")
	}
}

func BenchmarkStrict(b *testing.B) {
	code := "function envoy_on_response(response_handle)\n  response_handle:headers():add(\"x-lua-custom\", \"FOO\")\nend\n"
	for i := 0; i < b.N; i++ {
		v := fresh()
		if err := v.Validate(code, egv1a1.LuaValidationStrict, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// What validates also loads in the built-in proxy: the validator and the
// proxy share the sandbox and handle API, and every valid script is a
// filter config the proxy accepts.
func TestValidScriptsLoadInProxy(t *testing.T) {
	for name, code := range scripts(t, "valid") {
		cfg, err := anypb.New(&luav3.Lua{DefaultSourceCode: &corev3.DataSource{
			Specifier: &corev3.DataSource_InlineString{InlineString: code}}})
		if err != nil {
			t.Fatal(err)
		}
		fac, ok := filters.Lookup(cfg.GetTypeUrl())
		if !ok {
			t.Fatal("the proxy's lua filter is not registered")
		}
		if _, err := fac.New("envoy.filters.http.lua/"+name, cfg, filters.BuildContext{}); err != nil {
			t.Errorf("%s: proxy rejects a valid script: %v", name, err)
		}
	}
}
