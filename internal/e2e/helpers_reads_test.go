package e2e

// Helpers of the read, write and bad-input tests. Every name starts with f so that the other test
// files of this package can add helpers of their own without colliding.

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/laatu/laatu/internal/testserver"
)

// fOK sends a request that must succeed and decodes its data into into.
func fOK(t testing.TB, s *testserver.Server, token, query string, vars map[string]any, into any) {
	t.Helper()
	res := s.Do(t, testserver.Request{Query: query, Variables: vars, Token: token}, into)
	if res.Status != 200 || len(res.Errors) > 0 {
		t.Fatalf("status %d, errors %+v\nquery: %s", res.Status, res.Errors, query)
	}
}

// fFail sends a request that must fail with exactly one error of code, and returns it.
func fFail(t testing.TB, s *testserver.Server, token, query string, vars map[string]any, code string) testserver.Error {
	t.Helper()
	res := s.Do(t, testserver.Request{Query: query, Variables: vars, Token: token}, nil)
	return fOne(t, res, code)
}

// fOne checks that res holds exactly one error, of code, with a message safe to show.
func fOne(t testing.TB, res *testserver.Response, code string) testserver.Error {
	t.Helper()
	if len(res.Errors) != 1 {
		t.Fatalf("want one %s error, got status %d, errors %+v", code, res.Status, res.Errors)
	}
	e := res.Errors[0]
	if e.Code() != code {
		t.Fatalf("want code %s, got %q (status %d): %+v", code, e.Code(), res.Status, e)
	}
	fSafe(t, res)
	return e
}

// fSafe fails when a response looks like a crash: a 5xx status, a masked error, or the text of
// a panic, a Go runtime error or an SQL driver in a message.
func fSafe(t testing.TB, res *testserver.Response) {
	t.Helper()
	// 503 is the answer of an unavailable database (UNAVAILABLE, safe to retry), not a fault.
	if res.Status >= 500 && !(res.Status == 503 && len(res.Errors) > 0 && res.Errors[0].Code() == "UNAVAILABLE") {
		t.Errorf("status %d: %+v", res.Status, res.Errors)
	}
	for _, e := range res.Errors {
		lower := strings.ToLower(e.Message)
		for _, bad := range []string{"panic", "runtime error", "goroutine", "sql:", "pq:", "sqlite", "syntax error at", "nil pointer"} {
			if strings.Contains(lower, bad) {
				t.Errorf("error message leaks internals (%q): %q", bad, e.Message)
			}
		}
		if e.Code() == "" {
			t.Errorf("error without extensions.code: %+v", e)
		}
		if e.Message == "" {
			t.Errorf("error without a message: %+v", e)
		}
	}
}

// fAcme are the demo logins of Acme that the tests use.
type fAcme struct {
	Admin, Manager, Member string
}

func fLogins(t testing.TB, s *testserver.Server) fAcme {
	t.Helper()
	return fAcme{
		Admin:   s.Login(t, "admin@acme.test"),
		Manager: s.Login(t, "manager@acme.test"),
		Member:  s.Login(t, "member@acme.test"),
	}
}

// fFolders maps the paths of the folders that token sees ("Harbour Tower/Foundations") to
// their ids, two levels deep (the depth of the demo data).
func fFolders(t testing.TB, s *testserver.Server, token string) map[string]string {
	t.Helper()
	var data struct {
		Folders struct {
			Nodes []struct {
				ID, Name string
				Children struct {
					Nodes []struct{ ID, Name string }
				}
			}
		}
	}
	fOK(t, s, token, `{ folders(first: 50) { nodes { id name children(first: 50) { nodes { id name } } } } }`, nil, &data)
	out := map[string]string{}
	for _, f := range data.Folders.Nodes {
		out[f.Name] = f.ID
		for _, c := range f.Children.Nodes {
			out[f.Name+"/"+c.Name] = c.ID
		}
	}
	return out
}

// fTemplates maps the names of the active company's templates to their ids.
func fTemplates(t testing.TB, s *testserver.Server, token string) map[string]string {
	t.Helper()
	var data struct {
		Templates struct{ Nodes []struct{ ID, Name string } }
	}
	fOK(t, s, token, `{ templates(first: 100) { nodes { id name } } }`, nil, &data)
	out := map[string]string{}
	for _, tm := range data.Templates.Nodes {
		out[tm.Name] = tm.ID
	}
	return out
}

// fDoc is a document as the list tests read it.
type fDoc struct {
	ID, Title, Status    string
	CreatedAt, UpdatedAt time.Time
	Folder               struct{ ID string }
	Template             struct{ ID string }
}

const fDocFields = `id title status createdAt updatedAt folder { id } template { id }`

// fAllDocuments reads every document token may view, in one page.
func fAllDocuments(t testing.TB, s *testserver.Server, token string) []fDoc {
	t.Helper()
	var data struct {
		Documents struct {
			TotalCount int
			Nodes      []fDoc
			PageInfo   struct{ HasNextPage bool }
		}
	}
	fOK(t, s, token, `{ documents(first: 100) { totalCount pageInfo { hasNextPage } nodes { `+fDocFields+` } } }`, nil, &data)
	if data.Documents.PageInfo.HasNextPage || data.Documents.TotalCount != len(data.Documents.Nodes) {
		t.Fatalf("more than 100 documents (%d): the test data outgrew one page", data.Documents.TotalCount)
	}
	return data.Documents.Nodes
}

// fCreateFolder creates a folder (below parent when not empty) and returns its id.
func fCreateFolder(t testing.TB, s *testserver.Server, token, parent, name string) string {
	t.Helper()
	in := map[string]any{"name": name}
	if parent != "" {
		in["parentId"] = parent
	}
	var data struct{ CreateFolder struct{ ID string } }
	fOK(t, s, token, `mutation($in: CreateFolderInput!) { createFolder(input: $in) { id } }`, map[string]any{"in": in}, &data)
	return data.CreateFolder.ID
}

// fCreateDocument creates a document and returns its id.
func fCreateDocument(t testing.TB, s *testserver.Server, token, folder, template, title string, values map[string]any) string {
	t.Helper()
	in := map[string]any{"folderId": folder, "templateId": template, "title": title}
	if values != nil {
		in["values"] = values
	}
	var data struct{ CreateDocument struct{ ID string } }
	fOK(t, s, token, `mutation($in: CreateDocumentInput!) { createDocument(input: $in) { id } }`, map[string]any{"in": in}, &data)
	return data.CreateDocument.ID
}

// fAddComment comments on a document.
func fAddComment(t testing.TB, s *testserver.Server, token, doc, body string) {
	t.Helper()
	fOK(t, s, token, `mutation($d: ID!, $b: String!) { addComment(documentId: $d, body: $b) { id } }`,
		map[string]any{"d": doc, "b": body}, nil)
}

// fCollation ranks strings the way the database orders text, so that tests of sorting by name
// or title hold under any collation (PostgreSQL's may differ from Go's byte order).
func fCollation(t testing.TB, s *testserver.Server, values []string) map[string]int {
	t.Helper()
	values = slices.Compact(slices.Sorted(slices.Values(values)))
	if len(values) == 0 {
		return map[string]int{}
	}
	rows := make([]string, len(values))
	args := make([]any, len(values))
	for i, v := range values {
		rows[i], args[i] = "(?)", v
	}
	var sorted []string
	err := s.DB.Owner.NewRaw("SELECT column1 FROM (VALUES "+strings.Join(rows, ", ")+") AS v ORDER BY column1", args...).
		Scan(context.Background(), &sorted)
	if err != nil {
		t.Fatalf("collation: %v", err)
	}
	rank := make(map[string]int, len(sorted))
	for i, v := range sorted {
		rank[v] = i
	}
	return rank
}

// fQueryCounter counts the SQL statements the server runs while it is on.
type fQueryCounter struct {
	mu      sync.Mutex
	on      bool
	queries []string
}

// fCountQueries installs a counter on the test server's database (on SQLite the writer and
// the reader are separate pools; on PostgreSQL the hot reads are prepared statements run past
// Bun). Install it before sending requests.
func fCountQueries(s *testserver.Server) *fQueryCounter {
	c := &fQueryCounter{}
	s.DB.App.AddQueryHook(c) // both pools, and the prepared reads run past Bun
	return c
}

// BeforeQuery implements bun.QueryHook.
func (c *fQueryCounter) BeforeQuery(ctx context.Context, _ *bun.QueryEvent) context.Context {
	return ctx
}

// AfterQuery implements bun.QueryHook.
func (c *fQueryCounter) AfterQuery(_ context.Context, e *bun.QueryEvent) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.on {
		c.queries = append(c.queries, e.Query)
	}
}

// during counts the statements run by fn.
func (c *fQueryCounter) during(fn func()) []string {
	c.mu.Lock()
	c.on, c.queries = true, nil
	c.mu.Unlock()
	fn()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.on = false
	return c.queries
}

// fJSON renders v for failure messages.
func fJSON(v any) string {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
