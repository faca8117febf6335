package e2e

// Dataloaders at work: the number of SQL statements of a nested read does not grow with the
// number of rows; and the benchmark of that read.

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/laatu/laatu/internal/testserver"
)

const fNPlusOneQuery = `query($n: Int, $m: Int, $k: Int) {
  folders(first: $n) { totalCount nodes { id name owner { name }
    documents(first: $m) { totalCount nodes { id title owner { name } template { name fields { key } }
      comments(first: $k) { totalCount nodes { body author { name } } } } } } }
}`

func TestNestedReadStatementsDoNotGrowWithRows(t *testing.T) {
	t.Parallel()
	s := testserver.New(t)
	who := fLogins(t, s)
	templates := fTemplates(t, s, who.Admin)

	// Top-level folders whose names sort first, each holding documents that all have
	// comments, so that every level of the query has rows at every size measured. Loaders
	// cache: a user already loaded for an upper level costs no statement below. So each level
	// brings a user of its own, at every size: folders are the manager's, documents the
	// admin's, and every document's first comment is the member's.
	addFolders := func(from, to, docs int) {
		for i := from; i < to; i++ {
			folder := fCreateFolder(t, s, who.Manager, "", fmt.Sprintf("0 N+1 folder %02d", i))
			for j := range docs {
				tmpl := templates["Site inspection"]
				if j%2 == 1 {
					tmpl = templates["Concrete pour report"]
				}
				doc := fCreateDocument(t, s, who.Admin, folder, tmpl, fmt.Sprintf("N+1 document %d.%d", i, j), nil)
				fAddComment(t, s, who.Member, doc, "first")
				fAddComment(t, s, []string{who.Admin, who.Manager}[j%2], doc, "second")
			}
		}
	}
	counter := fCountQueries(s)
	type result struct {
		Folders struct {
			Nodes []struct {
				Documents struct {
					Nodes []struct {
						Owner, Template *struct{ Name string }
						Comments        struct {
							Nodes []struct{ Author *struct{ Name string } }
						}
					}
				}
			}
		}
	}
	// measure runs the query once and returns the statements it took and the rows it read.
	measure := func(n, m, k int) ([]string, int) {
		var data result
		queries := counter.during(func() {
			fOK(t, s, who.Admin, fNPlusOneQuery, map[string]any{"n": n, "m": m, "k": k}, &data)
		})
		rows := 0
		for _, f := range data.Folders.Nodes {
			for _, d := range f.Documents.Nodes {
				rows++
				if d.Owner == nil || d.Template == nil || len(d.Comments.Nodes) != min(k, 2) {
					t.Fatalf("document without owner, template or comments: %s", fJSON(d))
				}
				for _, c := range d.Comments.Nodes {
					rows++
					if c.Author == nil {
						t.Fatal("comment without author")
					}
				}
			}
		}
		return queries, rows
	}

	// The small read takes the first folder, document and comment only, so it reads the same
	// rows before and after the larger data is added.
	addFolders(0, 2, 2)
	addFolders(2, 6, 4)
	// Loaders batch what resolvers ask for within a short wait; on a loaded machine a batch can
	// split and a read take a statement more. So both reads are measured again, keeping each
	// one's fewest, until the two counts agree or a generous deadline passes: a batch that split
	// once does not split every time, while an N+1 pattern raises every run of the larger read.
	var small, large []string
	var smallRows, largeRows int
	deadline := time.Now().Add(3 * time.Minute)
	for runs := 0; runs < 3 || len(large) != len(small); runs++ {
		if runs > 0 && time.Now().After(deadline) {
			break
		}
		q, rows := measure(1, 1, 1)
		if small == nil || len(q) < len(small) {
			small, smallRows = q, rows
		}
		q, rows = measure(6, 4, 2)
		if large == nil || len(q) < len(large) {
			large, largeRows = q, rows
		}
	}
	if largeRows < 10*smallRows {
		t.Fatalf("the larger read holds only %d rows against %d", largeRows, smallRows)
	}
	// Loaders batch within an adaptive window (dataloaders/batch.go): on a loaded machine a
	// level's batch can still split, or two levels' batches merge, which moves the count by
	// one or two either way. An N+1 pattern adds a statement per row: dozens here.
	const slack = 3
	if len(small) == 0 || len(large) > len(small)+slack {
		t.Fatalf("%d statements for %d rows, %d statements for %d rows: the count must not grow with the rows (slack %d)\nsmall:\n%s\nlarge:\n%s",
			len(small), smallRows, len(large), largeRows, slack, strings.Join(small, "\n"), strings.Join(large, "\n"))
	}
	t.Logf("%d statements for %d rows and for %d rows", len(large), smallRows, largeRows)
}

// BenchmarkNestedRead measures the nested read of the demo data through the HTTP handler (no
// network): three folders, their documents with owner and template, and their comments with
// authors. Run it with
//
//	go test ./internal/e2e -run '^$' -bench NestedRead -benchtime 200x
func BenchmarkNestedRead(b *testing.B) {
	s := testserver.New(b)
	token := s.Login(b, "admin@acme.test")
	body := fmt.Sprintf(`{"query": %q, "variables": {"n": 3, "m": 10, "k": 5}}`, fNPlusOneQuery)
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		s.App.Handler.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK || strings.Contains(rec.Body.String(), `"errors"`) {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}
