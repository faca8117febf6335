package schema_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
)

// load parses and validates every schema file of this folder, as gqlgen does.
func load(t *testing.T) *ast.Schema {
	t.Helper()
	files, err := filepath.Glob("*.graphqls")
	if err != nil || len(files) == 0 {
		t.Fatalf("no schema files: %v", err)
	}
	var sources []*ast.Source
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sources = append(sources, &ast.Source{Name: f, Input: string(b)})
	}
	schema, err := gqlparser.LoadSchema(sources...)
	if err != nil {
		t.Fatalf("the schema does not load: %v", err)
	}
	return schema
}

func builtIn(p *ast.Position) bool { return p == nil || p.Src == nil || p.Src.BuiltIn }

func where(p *ast.Position) string {
	if p == nil || p.Src == nil {
		return "?"
	}
	return fmt.Sprintf("%s:%d", p.Src.Name, p.Line)
}

// TestEverythingIsDescribed checks that every type, field, argument, enum value, input field
// and directive defined in schema/*.graphqls has a description: the schema is the API's
// documentation, read in the playground.
func TestEverythingIsDescribed(t *testing.T) {
	schema := load(t)
	missing := func(what string, p *ast.Position) { t.Errorf("%s (%s) has no description", what, where(p)) }
	described := func(s string) bool { return strings.TrimSpace(s) != "" }
	args := func(owner string, list ast.ArgumentDefinitionList) {
		for _, a := range list {
			if !described(a.Description) {
				missing("argument "+owner+"("+a.Name+":)", a.Position)
			}
		}
	}
	checked := 0
	for name, def := range schema.Types {
		if def.BuiltIn || builtIn(def.Position) {
			continue
		}
		checked++
		if !described(def.Description) {
			missing(strings.ToLower(string(def.Kind))+" "+name, def.Position)
		}
		for _, f := range def.Fields {
			if strings.HasPrefix(f.Name, "__") {
				continue // introspection fields, added by the parser
			}
			if !described(f.Description) {
				kind := "field"
				if def.Kind == ast.InputObject {
					kind = "input field"
				}
				missing(kind+" "+name+"."+f.Name, f.Position)
			}
			args(name+"."+f.Name, f.Arguments)
		}
		for _, v := range def.EnumValues {
			if !described(v.Description) {
				missing("enum value "+name+"."+v.Name, v.Position)
			}
		}
	}
	for name, d := range schema.Directives {
		if builtIn(d.Position) {
			continue
		}
		if !described(d.Description) {
			missing("directive @"+name, d.Position)
		}
		args("@"+name, d.Arguments)
	}
	if checked < 20 {
		t.Errorf("only %d types checked: is the schema loaded?", checked)
	}
}
