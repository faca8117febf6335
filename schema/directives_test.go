package schema_test

// Deny by default, checked on the contract itself: every root field says who may call it, the
// few fields open to anyone are listed here by name, and what a directive may deny can be null.

import (
	"slices"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2/ast"
)

// accessDirectives are the directives that say who may reach a field.
var accessDirectives = []string{"auth", "shared", "public"}

// publicFields are the fields anyone may call without a session. Adding one is a decision to
// review: this list changes with it, in the same change.
var publicFields = []string{
	"Mutation.acceptInvitation",
	"Mutation.login",
	"Mutation.requestPasswordReset",
	"Mutation.resetPassword",
	"Mutation.signUp",
}

// rootTypes are the operation types present in the schema.
func rootTypes(s *ast.Schema) []*ast.Definition {
	var out []*ast.Definition
	for _, d := range []*ast.Definition{s.Query, s.Mutation, s.Subscription} {
		if d != nil {
			out = append(out, d)
		}
	}
	return out
}

func accessOf(f *ast.FieldDefinition) []*ast.Directive {
	var out []*ast.Directive
	for _, d := range f.Directives {
		if slices.Contains(accessDirectives, d.Name) {
			out = append(out, d)
		}
	}
	return out
}

func TestEveryRootFieldDeclaresAccess(t *testing.T) {
	s := load(t)
	if s.Query == nil || s.Mutation == nil {
		t.Fatal("the schema has no Query or Mutation")
	}
	var public []string
	fields := 0
	for _, typ := range rootTypes(s) {
		for _, f := range typ.Fields {
			if strings.HasPrefix(f.Name, "__") {
				continue
			}
			fields++
			name := typ.Name + "." + f.Name
			switch ds := accessOf(f); len(ds) {
			case 0:
				t.Errorf("%s carries none of @auth, @shared, @public: deny by default means every field says who may call it", name)
			case 1:
				if ds[0].Name == "public" {
					public = append(public, name)
				}
			default:
				t.Errorf("%s carries %d access directives; one says it all", name, len(ds))
			}
		}
	}
	slices.Sort(public)
	if !slices.Equal(public, publicFields) {
		t.Errorf("@public fields are %v, reviewed list is %v: a field open to anyone needs review before it ships", public, publicFields)
	}
	if fields < 30 {
		t.Errorf("only %d root fields found; is the schema loaded whole?", fields)
	}
}

// TestDeniableFieldsAreNullable checks that a field a directive may refuse (by the caller's level
// or its right on an object) is nullable, so that a denial yields null and an error on that
// field instead of taking its parent (or the whole response) with it.
func TestDeniableFieldsAreNullable(t *testing.T) {
	s := load(t)
	checked := 0
	for _, typ := range s.Types {
		if typ.BuiltIn || (typ.Kind != ast.Object && typ.Kind != ast.Interface) {
			continue
		}
		for _, f := range typ.Fields {
			deniable := false
			for _, d := range accessOf(f) {
				switch {
				case d.Name == "shared":
					deniable = true
				case d.Name == "auth" && d.Arguments.ForName("level") != nil:
					deniable = true
				}
			}
			if !deniable {
				continue
			}
			checked++
			if f.Type.NonNull {
				t.Errorf("%s.%s: %s can be denied but is non-null; make it nullable", typ.Name, f.Name, f.Type)
			}
		}
	}
	if checked == 0 {
		t.Error("no deniable field found")
	}
}

// TestDirectivesAreDeclaredForFieldsOnly guards the declarations the two tests above rely on.
func TestDirectivesAreDeclaredForFieldsOnly(t *testing.T) {
	s := load(t)
	for _, name := range accessDirectives {
		d := s.Directives[name]
		if d == nil {
			t.Errorf("@%s is not declared", name)
			continue
		}
		if len(d.Locations) != 1 || d.Locations[0] != ast.LocationFieldDefinition {
			t.Errorf("@%s may be placed on %v; only FIELD_DEFINITION keeps the schema walk complete", name, d.Locations)
		}
	}
}

// sharedObjectArgs are the arguments of @shared that name the field argument holding the object,
// and what that object is.
var sharedObjectArgs = []string{"document", "folder", "object"}

// TestSharedNamesItsObject checks that every @shared says which object it guards, so that the
// directive never guesses from argument names: on a root field, exactly one of document:,
// folder: or object: names an ID! argument of the field; on a field of Folder or Document the
// object is the parent and none is named.
func TestSharedNamesItsObject(t *testing.T) {
	s := load(t)
	roots := map[string]bool{}
	for _, r := range rootTypes(s) {
		roots[r.Name] = true
	}
	checked := 0
	for _, typ := range s.Types {
		if typ.BuiltIn || typ.Kind != ast.Object {
			continue
		}
		for _, f := range typ.Fields {
			d := f.Directives.ForName("shared")
			if d == nil {
				continue
			}
			checked++
			name := typ.Name + "." + f.Name
			var named []*ast.Argument
			for _, a := range sharedObjectArgs {
				if arg := d.Arguments.ForName(a); arg != nil {
					named = append(named, arg)
				}
			}
			if !roots[typ.Name] {
				if typ.Name != "Folder" && typ.Name != "Document" {
					t.Errorf("%s: @shared on a field of %s, whose parent is no folder or document", name, typ.Name)
				}
				if len(named) > 0 {
					t.Errorf("%s: @shared on a field of %s guards the parent; drop %s:", name, typ.Name, named[0].Name)
				}
				continue
			}
			if len(named) != 1 {
				t.Errorf(`%s: @shared on a root field names its object with exactly one of document:, folder: or object:, `+
					`e.g. @shared(level: EDIT, document: "documentId"); it names %d`, name, len(named))
				continue
			}
			argName := named[0].Value.Raw
			if named[0].Value.Kind != ast.StringValue {
				t.Errorf("%s: @shared(%s:) takes the argument's name as a string", name, named[0].Name)
				continue
			}
			arg := f.Arguments.ForName(argName)
			if arg == nil {
				t.Errorf("%s: @shared(%s: %q) names no argument of the field", name, named[0].Name, argName)
				continue
			}
			if arg.Type.String() != "ID!" {
				t.Errorf("%s: @shared(%s: %q) names an argument of type %s; the object's id is ID!", name, named[0].Name, argName, arg.Type)
			}
		}
	}
	if checked < 10 {
		t.Errorf("only %d @shared fields found; is the schema loaded whole?", checked)
	}
}
