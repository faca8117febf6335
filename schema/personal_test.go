package schema_test

// Personal data is declared where it is served: a field whose name says it carries personal
// data must carry @personal, so that the record of processing (laatu registers), generated from
// these declarations, cannot miss it.

import (
	"slices"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2/ast"
)

// personalNames are field names that carry personal data wherever they appear.
var personalNames = []string{"email", "name", "displayName", "ip", "clientIp", "userAgent", "body", "signature",
	"signer", "values", "actorId", "phone", "address"}

// notPersonal are fields with such a name that hold no personal data, each with why. Adding one
// is a decision to review, like a @public field.
var notPersonal = map[string]string{
	"Company.name":          "the name of a company, not of a person",
	"Folder.name":           "a folder's name, chosen by the company",
	"DocumentTemplate.name": "a template's name, chosen by the company",
	"TrashItem.name":        "a deleted folder's name or document's title",
	"FolderVersion.name":    "a folder's earlier name",
}

func personalArg(d *ast.Directive, name string) string {
	if a := d.Arguments.ForName(name); a != nil && a.Value != nil {
		return a.Value.Raw
	}
	return ""
}

func TestPersonalDataIsDeclared(t *testing.T) {
	s := load(t)
	declared := 0
	for _, typ := range s.Types {
		if builtIn(typ.Position) || (typ.Kind != ast.Object && typ.Kind != ast.Interface) || strings.HasPrefix(typ.Name, "__") {
			continue
		}
		for _, f := range typ.Fields {
			name := typ.Name + "." + f.Name
			d := f.Directives.ForName("personal")
			if d != nil {
				declared++
				for _, arg := range []string{"category", "purpose", "retention"} {
					if strings.TrimSpace(personalArg(d, arg)) == "" {
						t.Errorf("%s: @personal without %s", name, arg)
					}
				}
				if _, ok := notPersonal[name]; ok {
					t.Errorf("%s is declared personal and listed as not personal", name)
				}
				continue
			}
			if !slices.Contains(personalNames, f.Name) {
				continue
			}
			if _, ok := notPersonal[name]; !ok {
				t.Errorf("%s (%s) looks like personal data and lacks @personal(category:, purpose:, retention:); "+
					"declare it, or list it in notPersonal with the reason", name, where(f.Position))
			}
		}
	}
	for name := range notPersonal {
		typ, field, _ := strings.Cut(name, ".")
		if d := s.Types[typ]; d == nil || d.Fields.ForName(field) == nil {
			t.Errorf("notPersonal lists %s, which the schema does not have", name)
		}
	}
	if declared < 10 {
		t.Errorf("only %d fields declared personal; is the schema loaded whole?", declared)
	}
}
