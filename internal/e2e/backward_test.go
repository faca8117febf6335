package e2e

import (
	"testing"

	"github.com/laatu/laatu/internal/testserver"
)

// TestDocumentsPageBackward: documents(last, before) pages from the end of the list, in the
// list's order, says hasPreviousPage, and refuses first and last together.
func TestDocumentsPageBackward(t *testing.T) {
	s := testserver.New(t)
	admin := fLogins(t, s).Admin
	type conn struct {
		Documents struct {
			Nodes    []struct{ ID string }
			PageInfo struct {
				HasPreviousPage, HasNextPage bool
				StartCursor                  string
			}
		}
	}
	var all, last conn
	fOK(t, s, admin, `{ documents(sort: TITLE_ASC, first: 100) { nodes { id } pageInfo { hasPreviousPage hasNextPage } } }`, nil, &all)
	fOK(t, s, admin, `{ documents(sort: TITLE_ASC, last: 3) { nodes { id } pageInfo { hasPreviousPage hasNextPage startCursor } } }`, nil, &last)
	n := len(all.Documents.Nodes)
	if n < 5 || all.Documents.PageInfo.HasPreviousPage {
		t.Fatalf("forward: %d documents, hasPreviousPage %v", n, all.Documents.PageInfo.HasPreviousPage)
	}
	if len(last.Documents.Nodes) != 3 || !last.Documents.PageInfo.HasPreviousPage || last.Documents.PageInfo.HasNextPage {
		t.Fatalf("last 3: %+v", last.Documents)
	}
	for i, d := range last.Documents.Nodes {
		if d.ID != all.Documents.Nodes[n-3+i].ID {
			t.Errorf("last 3, item %d is %s, forward has %s", i, d.ID, all.Documents.Nodes[n-3+i].ID)
		}
	}
	var prev conn
	fOK(t, s, admin, `query($b: String) { documents(sort: TITLE_ASC, last: 2, before: $b) { nodes { id } pageInfo { hasPreviousPage hasNextPage } } }`,
		map[string]any{"b": last.Documents.PageInfo.StartCursor}, &prev)
	if len(prev.Documents.Nodes) != 2 || prev.Documents.Nodes[1].ID != all.Documents.Nodes[n-4].ID || !prev.Documents.PageInfo.HasNextPage {
		t.Errorf("the 2 before the last 3: %+v", prev.Documents)
	}
	fFail(t, s, admin, `{ documents(first: 2, last: 2) { nodes { id } } }`, nil, "BAD_USER_INPUT")
	fFail(t, s, admin, `{ documents(last: 1000) { nodes { id } } }`, nil, "BAD_USER_INPUT")
}
