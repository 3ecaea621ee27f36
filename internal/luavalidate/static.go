package luavalidate

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/yuin/gopher-lua/ast"
	"github.com/yuin/gopher-lua/parse"

	plua "github.com/portico-gw/portico/internal/proxy/filters/lua"
)

// staticCheck rejects references to what the sandbox denies anywhere in
// the script, including branches a mock request never takes: `io`,
// `os.execute`, `_G.loadstring`, ... A name the script declares as a local
// (a parameter called `io`, say) is its own business.
func staticCheck(code string) error {
	chunk, err := parse.Parse(strings.NewReader(code), "<string>")
	if err != nil {
		return err
	}
	forbidden := plua.ForbiddenNames()
	locals := map[string]bool{}
	var refs []ref
	walk(reflect.ValueOf(chunk), locals, &refs)
	for _, r := range refs {
		root, _, _ := strings.Cut(r.name, ".")
		if locals[root] {
			continue
		}
		if why, bad := forbidden[r.name]; bad {
			return fmt.Errorf("line %d: %s'%s' is not allowed (%s)", r.line, plua.Violation, r.name, why)
		}
	}
	return nil
}

type ref struct {
	name string
	line int
}

// walk visits every AST node by reflection (gopher-lua has no visitor),
// collecting global-looking names, `x.y` with a constant key (and
// `_G.x` as `x`), and every name declared local anywhere.
func walk(v reflect.Value, locals map[string]bool, refs *[]ref) {
	switch v.Kind() {
	case reflect.Interface, reflect.Pointer:
		if v.IsNil() {
			return
		}
		switch n := v.Interface().(type) {
		case *ast.IdentExpr:
			*refs = append(*refs, ref{n.Value, n.Line()})
			return
		case *ast.AttrGetExpr:
			if id, ok := n.Object.(*ast.IdentExpr); ok {
				if key, ok := n.Key.(*ast.StringExpr); ok {
					name := id.Value + "." + key.Value
					if id.Value == "_G" {
						name = key.Value
					}
					*refs = append(*refs, ref{name, n.Line()})
				}
			}
		case *ast.LocalAssignStmt:
			for _, name := range n.Names {
				locals[name] = true
			}
		case *ast.ParList:
			for _, name := range n.Names {
				locals[name] = true
			}
		case *ast.NumberForStmt:
			locals[n.Name] = true
		case *ast.GenericForStmt:
			for _, name := range n.Names {
				locals[name] = true
			}
		}
		walk(v.Elem(), locals, refs)
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				walk(v.Field(i), locals, refs)
			}
		}
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			walk(v.Index(i), locals, refs)
		}
	}
}
