package audit

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/laatu/laatu/internal/access"
	"github.com/laatu/laatu/internal/storage"
	"github.com/laatu/laatu/internal/testdb"
)

func fieldNames(fs []Field) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.Field
	}
	return out
}

// Fields of one object, added concurrently and repeatedly, fold into one VIEW event.
func TestCollectorFoldsToOneEventPerObject(t *testing.T) {
	tdb := testdb.New(t)
	a, _ := newAuditor(t, tdb.App, Options{})
	company, doc, other := newID(), newID(), newID()
	c := NewCollector()
	var wg sync.WaitGroup
	for _, f := range []string{"title", "values", "owner", "title", "values"} {
		wg.Add(1)
		go func(f string) {
			defer wg.Done()
			c.Add(company, ObjectDocument, doc, f)
		}(f)
	}
	wg.Wait()
	c.Add(company, ObjectFolder, other, "name")

	viewer := newID()
	ctx := WithOperation(userCtx(viewer, company, access.Member),
		Operation{Type: "query", Name: "Docs", Hash: "h", RootFields: []string{"documents"}})
	if err := a.Flush(ctx, c); err != nil {
		t.Fatal(err)
	}
	events := chain(t, tdb.Owner, company)
	if len(events) != 2 {
		t.Fatalf("%d events, want one per object", len(events))
	}
	e := events[0] // DOCUMENT sorts before FOLDER
	if e.Action != ActionView || e.ObjectType != ObjectDocument || e.ObjectID != doc {
		t.Fatalf("event: %+v", e)
	}
	if got := fieldNames(e.Fields); !reflect.DeepEqual(got, []string{"owner", "title", "values"}) {
		t.Fatalf("fields %v", got)
	}
	if *e.ActorID != viewer || e.PrincipalKind != "MEMBER" || e.PrincipalLevel != "MEMBER" || e.ClientIP != "192.0.2.7" ||
		e.UserAgent != "test-agent" || e.RequestID != "req-1" || e.OperationName != "Docs" ||
		!reflect.DeepEqual(e.RootFields, []string{"documents"}) || e.SessionID == "" {
		t.Fatalf("who/where/operation not recorded: %+v", e)
	}
	// Flushing emptied the collector.
	if err := a.Flush(ctx, c); err != nil {
		t.Fatal(err)
	}
	if n := len(chain(t, tdb.Owner, company)); n != 2 {
		t.Fatalf("second flush wrote again: %d events", n)
	}
}

// A response's views reach the stream in one Write: hundreds of lines, one system call, and
// an O_APPEND file receives them whole.
func TestStreamGetsAResponsesViewsInOneWrite(t *testing.T) {
	tdb := testdb.New(t)
	a, stream := newAuditor(t, tdb.App, Options{})
	company := newID()
	c := NewCollector()
	const n = 120
	for range n {
		c.Add(company, ObjectDocument, newID(), "title")
	}
	ctx := WithOperation(userCtx(newID(), company, access.Member), Operation{Type: "query", Name: "Docs"})
	if err := a.Flush(ctx, c); err != nil {
		t.Fatal(err)
	}
	if lines := stream.lines(t); len(lines) != n {
		t.Fatalf("%d stream lines, want %d", len(lines), n)
	}
	if w := stream.writeCount(); w != 1 {
		t.Fatalf("the stream got %d writes for one response's views, want 1", w)
	}
}

func TestFieldMiddleware(t *testing.T) {
	company := newID()
	doc := &storage.Document{CompanyID: company, ID: newID()}
	docs := []*storage.Document{doc}
	var node any = doc // an element of a list of an interface type, such as [Node]
	fieldCtx := func(ctx context.Context, object, name string, result any) context.Context {
		return graphql.WithFieldContext(ctx, &graphql.FieldContext{Object: object,
			Field: graphql.CollectedField{Field: &ast.Field{Name: name}}, Result: result})
	}
	// resolve runs the middleware on the field "title" of parent, nested as gqlgen nests field
	// contexts: a root field, or a field of the object a field resolved to, or of a list element
	// (whose Result gqlgen sets to a pointer to the element).
	type shape int
	const (
		root shape = iota
		object
		element
	)
	mw := FieldMiddleware()
	resolve := func(ctx context.Context, s shape, parent any, fail error) (any, error) {
		switch s {
		case object:
			ctx = fieldCtx(ctx, "Query", "x", parent)
		case element:
			ctx = fieldCtx(ctx, "Query", "documents", docs)
			i := 0
			ctx = graphql.WithFieldContext(ctx, &graphql.FieldContext{Index: &i, Result: parent})
		}
		return mw(fieldCtx(ctx, "Document", "title", nil), func(context.Context) (any, error) {
			if fail != nil {
				return nil, fail
			}
			return "value", nil
		})
	}
	type view struct{ company, typ, id string }
	cases := []struct {
		name   string
		shape  shape
		parent any
		fail   error
		want   *view
	}{
		{"document", object, doc, nil, &view{company, ObjectDocument, doc.ID}},
		{"document in a list", element, &docs[0], nil, &view{company, ObjectDocument, doc.ID}},
		{"document in a list of interfaces", element, &node, nil, &view{company, ObjectDocument, doc.ID}},
		{"folder", object, &storage.Folder{CompanyID: company, ID: "f"}, nil, &view{company, ObjectFolder, "f"}},
		{"comment", object, &storage.Comment{CompanyID: company, ID: "c"}, nil, &view{company, ObjectComment, "c"}},
		{"template", object, &storage.DocumentTemplate{CompanyID: company, ID: "t"}, nil, &view{company, ObjectTemplate, "t"}},
		{"membership", object, &storage.Membership{CompanyID: company, UserID: "u"}, nil, &view{company, ObjectMembership, "u"}},
		{"other type", object, &storage.User{ID: "u"}, nil, nil},
		{"nil document", object, (*storage.Document)(nil), nil, nil},
		{"root field", root, nil, nil, nil},
		{"field failed", object, doc, errors.New("denied"), nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := NewCollector()
			res, err := resolve(WithCollector(context.Background(), c), tc.shape, tc.parent, tc.fail)
			if err != tc.fail || (err == nil && res != "value") {
				t.Fatalf("middleware returned %v, %v", res, err)
			}
			views := c.take()
			if tc.want == nil {
				if len(views) != 0 {
					t.Fatalf("recorded %+v", views)
				}
				return
			}
			if len(views) != 1 || len(views[0].fields) != 1 || views[0].fields[0].Field != "title" {
				t.Fatalf("recorded %+v, want one view of title", views)
			}
			if got := (view{views[0].company, views[0].typ, views[0].id}); got != *tc.want {
				t.Fatalf("recorded %+v, want %+v", got, *tc.want)
			}
		})
	}

	// Without a collector, an audited object's field fails rather than go unrecorded; other
	// fields are unaffected.
	if _, err := resolve(context.Background(), object, doc, nil); !errors.Is(err, ErrNoCollector) {
		t.Fatalf("without a collector: %v", err)
	}
	if _, err := resolve(context.Background(), object, &storage.User{}, nil); err != nil {
		t.Fatalf("unaudited field without a collector: %v", err)
	}
}
