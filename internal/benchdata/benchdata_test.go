package benchdata_test

import (
	"context"
	"testing"
	"time"

	"github.com/laatu/laatu/internal/benchdata"
	"github.com/laatu/laatu/internal/config"
	"github.com/laatu/laatu/internal/testserver"
)

// NestedRead is the load test's read: 10 folders, 20 documents each, each with its owner's name.
const NestedRead = `{ folders(first: 10) { nodes { id name restricted
	documents(first: 20) { nodes { id title owner { name } } } } } }`

type nested struct {
	Folders struct {
		Nodes []struct {
			ID, Name   string
			Restricted bool
			Documents  struct {
				Nodes []struct {
					ID, Title string
					Owner     *struct{ Name string }
				}
			}
		}
	}
}

// TestLoadServesTheNestedRead loads a small shape beside the demo data and reads it through the
// real server with the member's bearer token: the first ten unrestricted top-level folders, with
// full pages of documents and their owners, and nothing of the restricted root or of the other
// company.
func TestLoadServesTheNestedRead(t *testing.T) {
	// The read is slow before issue 10's speed-ups, and slower still under -race on a busy
	// machine: this test is about what it returns, so the server may take its time.
	srv := testserver.New(t, func(c *config.Config) { c.RequestTimeout = 3 * time.Minute })
	shape := benchdata.Shape{Companies: 2, Users: 40, FoldersPerCompany: 40, RootsPerCompany: 12,
		DocsPerCompany: 400, GrantsPerCompany: 300, TemplatesPerCompany: 2, CommentsPerCompany: 10, Seed: 7}
	got, err := benchdata.Load(context.Background(), srv.DB.Owner, shape)
	if err != nil {
		t.Fatal(err)
	}
	for table, want := range map[string]int{"companies": 2, "folders": 80, "documents": 800, "grants": 600, "comments": 20, "users": 40} {
		var n int
		if err := srv.DB.Owner.NewSelect().TableExpr(table).ColumnExpr("count(*)").
			Where("1 = 1").Scan(context.Background(), &n); err != nil {
			t.Fatal(err)
		}
		// The demo data has companies, users and the rest of its own.
		if got.Rows[table] != want || n < want {
			t.Errorf("%s: loaded %d, counted %d in the table, want %d", table, got.Rows[table], n, want)
		}
	}
	if len(got.Companies) != 2 || len(got.Companies[0].RestrictedRootIDs) != 1 {
		t.Fatalf("companies: %+v", got.Companies)
	}

	co, other := got.Companies[0], got.Companies[1]
	var data nested
	res := srv.Do(t, testserver.Request{Query: NestedRead, Token: co.Member.Token}, &data)
	testserver.MustOK(t, res)
	var want []string
	for _, id := range co.RootFolderIDs {
		if id != co.RestrictedRootIDs[0] && len(want) < 10 {
			want = append(want, id)
		}
	}
	if len(data.Folders.Nodes) != 10 {
		t.Fatalf("member read %d folders, want 10", len(data.Folders.Nodes))
	}
	for i, f := range data.Folders.Nodes {
		if f.ID != want[i] || f.Restricted {
			t.Errorf("folder %d: got %s (restricted %v), want %s", i, f.ID, f.Restricted, want[i])
		}
		if len(f.Documents.Nodes) != 20 {
			t.Errorf("folder %s: %d documents, want a full page of 20", f.Name, len(f.Documents.Nodes))
		}
		for _, d := range f.Documents.Nodes {
			if d.Owner == nil || d.Owner.Name == "" {
				t.Errorf("document %s: no owner name", d.ID)
			}
		}
	}

	// The walls hold on the loaded rows: the restricted root and the other company's folders
	// answer NOT_FOUND to the member; the admin sees the restricted root.
	q := `query($id: ID!) { folder(id: $id) { id } }`
	for _, id := range []string{co.RestrictedRootIDs[0], other.RootFolderIDs[0]} {
		res := srv.Do(t, testserver.Request{Query: q, Variables: map[string]any{"id": id}, Token: co.Member.Token}, nil)
		if codes := res.Codes(); len(codes) != 1 || codes[0] != "NOT_FOUND" {
			t.Errorf("member reading folder %s: codes %v, want NOT_FOUND", id, codes)
		}
	}
	testserver.MustOK(t, srv.Do(t, testserver.Request{Query: q, Variables: map[string]any{"id": co.RestrictedRootIDs[0]},
		Token: co.Admin.Token}, nil))
}
