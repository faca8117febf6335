package gdpr

import (
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
)

const directive = `directive @personal(category: String!, purpose: String!, retention: String!) on FIELD_DEFINITION
type Query { me: Person }
`

func schemaOf(t *testing.T, src string) *ast.Schema {
	t.Helper()
	s, err := gqlparser.LoadSchema(&ast.Source{Name: "t.graphqls", Input: directive + src})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestNewRegister(t *testing.T) {
	s := schemaOf(t, `type Person {
  id: ID!
  email: String! @personal(category: "contact", purpose: "login", retention: "while the account exists")
  name: String! @personal(category: "identity", purpose: "login", retention: "while the account exists")
}`)
	r, err := NewRegister(s, Controller{}, []string{"hosting:Somewhere EU", "just a name"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Items[0].Type != "Person" || r.Items[0].Field != "email" || r.Items[1].Field != "name" {
		t.Errorf("items %+v", r.Items[:2])
	}
	if len(r.Purposes) != 1+len(storedOnly) || r.Purposes[0] != "login" {
		t.Errorf("purposes are not deduplicated: %v", r.Purposes)
	}
	if r.Processors[1].Role != "processor" || r.Processors[1].Name != "just a name" {
		t.Errorf("processors %+v", r.Processors)
	}
	if !strings.Contains(r.Controller.Name, "not configured") || !strings.Contains(r.Markdown(), "set --controller") {
		t.Error("an unconfigured controller is not called out")
	}

	if _, err := NewRegister(schemaOf(t, `type Person { id: ID! }`), Controller{}, nil); err == nil {
		t.Error("a schema without @personal gives a register")
	}
	if _, err := NewRegister(schemaOf(t, `type Person { name: String! @personal(category: "identity", purpose: "x", retention: " ") }`), Controller{}, nil); err == nil ||
		!strings.Contains(err.Error(), "Person.name") {
		t.Errorf("a blank retention: %v", err)
	}
}
