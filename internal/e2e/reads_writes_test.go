// Package e2e tests Laatu end to end: real GraphQL requests over HTTP to the fully wired server
// (internal/testserver) over a fresh database, SQLite by default and PostgreSQL when
// TEST_DATABASE_URL is set.
package e2e

// Reads and writes through GraphQL: the nested read with pagination, filters and sorting, the
// write paths, and node(id:). Bad input is in badinput_test.go, the statement-count test and
// the benchmark of the nested read in nplus1_test.go.

import (
	"cmp"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/laatu/laatu/internal/testserver"
)

const fNestedQuery = `query Nested($first: Int, $after: String, $docs: Int) {
  folders(first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node {
      id name
      documents(first: $docs) {
        totalCount
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
        edges { cursor node {
          id title status version values
          folder { id }
          template { id name fields { key type required } }
          owner { id name email }
          comments(first: 5) { totalCount pageInfo { hasNextPage } edges { cursor node { id body author { name } } } }
        } }
      }
    } }
  }
}`

type fPageInfo struct {
	HasNextPage, HasPreviousPage bool
	StartCursor, EndCursor       *string
}

// checkPageInfo checks that info agrees with the cursors of the page's edges.
func (p fPageInfo) check(t *testing.T, what string, cursors []string, hasNext bool) {
	t.Helper()
	if p.HasNextPage != hasNext || p.HasPreviousPage {
		t.Errorf("%s: hasNextPage %v hasPreviousPage %v, want %v false", what, p.HasNextPage, p.HasPreviousPage, hasNext)
	}
	if len(cursors) == 0 {
		if p.StartCursor != nil || p.EndCursor != nil {
			t.Errorf("%s: empty page with cursors %v %v", what, p.StartCursor, p.EndCursor)
		}
		return
	}
	if p.StartCursor == nil || p.EndCursor == nil || *p.StartCursor != cursors[0] || *p.EndCursor != cursors[len(cursors)-1] {
		t.Errorf("%s: start/end cursors do not match the edges", what)
	}
}

func TestNestedReadPagesAndCounts(t *testing.T) {
	t.Parallel()
	s := testserver.New(t)
	who := fLogins(t, s)

	type page struct {
		Folders struct {
			TotalCount int
			PageInfo   fPageInfo
			Edges      []struct {
				Cursor string
				Node   struct {
					ID, Name  string
					Documents struct {
						TotalCount int
						PageInfo   fPageInfo
						Edges      []struct {
							Cursor string
							Node   struct {
								ID, Title, Status string
								Version           int
								Values            map[string]any
								Folder            struct{ ID string }
								Template          *struct {
									ID, Name string
									Fields   []struct {
										Key, Type string
										Required  bool
									}
								}
								Owner *struct {
									ID, Name string
									Email    *string
								}
								Comments struct {
									TotalCount int
									PageInfo   struct{ HasNextPage bool }
									Edges      []struct {
										Cursor string
										Node   struct {
											ID, Body string
											Author   *struct{ Name string }
										}
									}
								}
							}
						}
					}
				}
			}
		}
	}
	// The demo data: Acme's top-level folders, their documents and who made them.
	wantDocs := map[string]int{"Harbour Tower": 4, "Riverside School": 2, "HR & Safety": 4}
	wantOwner := map[string]string{"Harbour Tower": "Matti Manager", "Riverside School": "Matti Manager", "HR & Safety": "Aino Admin"}
	wantEmail := map[string]string{"Matti Manager": "manager@acme.test", "Aino Admin": "admin@acme.test"}

	seen := map[string]bool{}
	var after any
	for i, wantLen := range []int{2, 1} {
		var data page
		fOK(t, s, who.Admin, fNestedQuery, map[string]any{"first": 2, "after": after, "docs": 3}, &data)
		c := data.Folders
		if c.TotalCount != 3 || len(c.Edges) != wantLen {
			t.Fatalf("page %d: totalCount %d, %d edges; want 3, %d", i, c.TotalCount, len(c.Edges), wantLen)
		}
		var cursors []string
		for _, e := range c.Edges {
			cursors = append(cursors, e.Cursor)
			f := e.Node
			if seen[f.Name] {
				t.Errorf("folder %q on two pages", f.Name)
			}
			seen[f.Name] = true
			d := f.Documents
			var docCursors []string
			if d.TotalCount != wantDocs[f.Name] || len(d.Edges) != min(3, wantDocs[f.Name]) {
				t.Errorf("%s: totalCount %d with %d edges, want %d", f.Name, d.TotalCount, len(d.Edges), wantDocs[f.Name])
			}
			for _, de := range d.Edges {
				docCursors = append(docCursors, de.Cursor)
				doc := de.Node
				if doc.Folder.ID != f.ID {
					t.Errorf("%s: document %q says it is in folder %s", f.Name, doc.Title, doc.Folder.ID)
				}
				if doc.Template == nil || (doc.Template.Name != "Site inspection" && doc.Template.Name != "Concrete pour report") || len(doc.Template.Fields) == 0 {
					t.Errorf("%s: document %q has template %+v", f.Name, doc.Title, doc.Template)
				}
				if doc.Owner == nil || doc.Owner.Name != wantOwner[f.Name] || doc.Owner.Email == nil || *doc.Owner.Email != wantEmail[doc.Owner.Name] {
					t.Errorf("%s: document %q has owner %s", f.Name, doc.Title, fJSON(doc.Owner))
				}
				if doc.Version < 1 || len(doc.Values) == 0 || doc.Status == "" {
					t.Errorf("%s: document %s", f.Name, fJSON(doc))
				}
				if cm := doc.Comments; cm.TotalCount != len(cm.Edges) || cm.PageInfo.HasNextPage {
					t.Errorf("%s: comments %s", f.Name, fJSON(cm))
				}
				for _, ce := range doc.Comments.Edges {
					if ce.Node.Author == nil || ce.Node.Body == "" || ce.Cursor == "" {
						t.Errorf("comment %s", fJSON(ce))
					}
				}
			}
			d.PageInfo.check(t, f.Name+" documents", docCursors, wantDocs[f.Name] > 3)
		}
		c.PageInfo.check(t, "folders", cursors, i == 0)
		after = *c.PageInfo.EndCursor
	}
	if len(seen) != 3 {
		t.Errorf("folders seen across pages: %v", seen)
	}

	// The nested list pages on with after, to the end, visiting every document once.
	folders := fFolders(t, s, who.Admin)
	var all struct {
		Documents struct{ Nodes []struct{ ID string } }
	}
	fOK(t, s, who.Admin, `query($f: ID) { documents(first: 100, filter: {folderId: $f}) { nodes { id } } }`,
		map[string]any{"f": folders["Harbour Tower"]}, &all)
	var got []string
	var cursor any
	for range 5 {
		var data struct {
			Folder struct {
				Documents struct {
					TotalCount int
					PageInfo   fPageInfo
					Edges      []struct {
						Cursor string
						Node   struct{ ID string }
					}
				}
			}
		}
		fOK(t, s, who.Admin, `query($id: ID!, $after: String) { folder(id: $id) { documents(first: 3, after: $after) {
			totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor node { id } } } } }`,
			map[string]any{"id": folders["Harbour Tower"], "after": cursor}, &data)
		d := data.Folder.Documents
		var cursors []string
		for _, e := range d.Edges {
			got, cursors = append(got, e.Node.ID), append(cursors, e.Cursor)
		}
		if d.TotalCount != 4 {
			t.Errorf("totalCount %d on a later page, want 4", d.TotalCount)
		}
		d.PageInfo.check(t, "Harbour Tower documents", cursors, len(got) < 4)
		if !d.PageInfo.HasNextPage {
			break
		}
		cursor = *d.PageInfo.EndCursor
	}
	want := make([]string, 0, len(all.Documents.Nodes))
	for _, n := range all.Documents.Nodes {
		want = append(want, n.ID)
	}
	if !slices.Equal(got, want) {
		t.Errorf("paging Folder.documents visited %v, the root list holds %v", got, want)
	}

	// Comments page too: first/after, totalCount, oldest first.
	templates := fTemplates(t, s, who.Admin)
	doc := fCreateDocument(t, s, who.Manager, folders["Riverside School"], templates["Site inspection"], "Commented", nil)
	for _, b := range []string{"one", "two", "three"} {
		fAddComment(t, s, who.Member, doc, b)
	}
	var bodies []string
	cursor = nil
	for range 3 {
		var data struct {
			Document struct {
				Comments struct {
					TotalCount int
					PageInfo   fPageInfo
					Edges      []struct {
						Cursor string
						Node   struct {
							Body   string
							Author struct{ Name string }
						}
					}
				}
			}
		}
		fOK(t, s, who.Admin, `query($id: ID!, $after: String) { document(id: $id) { comments(first: 2, after: $after) {
			totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor node { body author { name } } } } } }`,
			map[string]any{"id": doc, "after": cursor}, &data)
		cm := data.Document.Comments
		var cursors []string
		for _, e := range cm.Edges {
			bodies, cursors = append(bodies, e.Node.Body), append(cursors, e.Cursor)
			if e.Node.Author.Name != "Meri Member" {
				t.Errorf("comment author %q", e.Node.Author.Name)
			}
		}
		if cm.TotalCount != 3 {
			t.Errorf("comments totalCount %d, want 3", cm.TotalCount)
		}
		cm.PageInfo.check(t, "comments", cursors, len(bodies) < 3)
		if !cm.PageInfo.HasNextPage {
			break
		}
		cursor = *cm.PageInfo.EndCursor
	}
	if !slices.Equal(bodies, []string{"one", "two", "three"}) {
		t.Errorf("comments %v, want oldest first", bodies)
	}

	// A member does not see the restricted folder, nor count it.
	var member struct {
		Folders struct {
			TotalCount int
			Nodes      []struct{ Name string }
		}
	}
	fOK(t, s, who.Member, `{ folders { totalCount nodes { name } } }`, nil, &member)
	if member.Folders.TotalCount != 2 || len(member.Folders.Nodes) != 2 {
		t.Errorf("member sees folders %s", fJSON(member.Folders))
	}
	for _, f := range member.Folders.Nodes {
		if f.Name == "HR & Safety" {
			t.Error("member sees the restricted folder")
		}
	}

	t.Run("node", func(t *testing.T) { fCheckNode(t, s, who) })
}

func TestDocumentFilters(t *testing.T) {
	t.Parallel()
	s := testserver.New(t)
	who := fLogins(t, s)
	folders := fFolders(t, s, who.Admin)
	templates := fTemplates(t, s, who.Admin)
	inspection, pour := templates["Site inspection"], templates["Concrete pour report"]

	// Titles that LIKE would misread if the search text's wildcards were not escaped.
	for _, title := range []string{"Rate 100% done", "Rate 1000 done", "snake_case item", "snakeXcase item", `back\slash`, "backslash"} {
		fCreateDocument(t, s, who.Manager, folders["Riverside School"], inspection, title, nil)
	}
	all := fAllDocuments(t, s, who.Admin)
	if len(all) != 34+6 {
		t.Fatalf("admin sees %d documents, want 40", len(all))
	}
	times := make([]time.Time, len(all))
	for i, d := range all {
		times[i] = d.UpdatedAt
	}
	slices.SortFunc(times, time.Time.Compare)
	lo, hi := times[len(times)/4], times[3*len(times)/4]
	ts := func(t time.Time) string { return t.Format(time.RFC3339Nano) }
	in := func(list ...string) func(string) bool { return func(s string) bool { return slices.Contains(list, s) } }
	harbourTree := in(folders["Harbour Tower"], folders["Harbour Tower/Foundations"], folders["Harbour Tower/Structure"])

	cases := []struct {
		name   string
		filter map[string]any
		want   func(d fDoc) bool
	}{
		{"no filter", map[string]any{}, func(fDoc) bool { return true }},
		{"folder", map[string]any{"folderId": folders["Harbour Tower"]}, func(d fDoc) bool { return d.Folder.ID == folders["Harbour Tower"] }},
		{"folder without subfolders", map[string]any{"folderId": folders["Harbour Tower"], "includeSubfolders": false}, func(d fDoc) bool { return d.Folder.ID == folders["Harbour Tower"] }},
		{"folder and subfolders", map[string]any{"folderId": folders["Harbour Tower"], "includeSubfolders": true}, func(d fDoc) bool { return harbourTree(d.Folder.ID) }},
		{"leaf folder and subfolders", map[string]any{"folderId": folders["Harbour Tower/Structure"], "includeSubfolders": true}, func(d fDoc) bool { return d.Folder.ID == folders["Harbour Tower/Structure"] }},
		{"one status", map[string]any{"status": []string{"DRAFT"}}, func(d fDoc) bool { return d.Status == "DRAFT" }},
		{"status list", map[string]any{"status": []string{"APPROVED", "ARCHIVED"}}, func(d fDoc) bool { return in("APPROVED", "ARCHIVED")(d.Status) }},
		{"template", map[string]any{"templateId": pour}, func(d fDoc) bool { return d.Template.ID == pour }},
		{"updated after", map[string]any{"updatedAfter": ts(lo)}, func(d fDoc) bool { return !d.UpdatedAt.Before(lo) }},
		{"updated before", map[string]any{"updatedBefore": ts(hi)}, func(d fDoc) bool { return d.UpdatedAt.Before(hi) }},
		{"updated range", map[string]any{"updatedAfter": ts(lo), "updatedBefore": ts(hi)}, func(d fDoc) bool { return !d.UpdatedAt.Before(lo) && d.UpdatedAt.Before(hi) }},
		{"updated range in another zone", map[string]any{"updatedAfter": lo.In(time.FixedZone("EET", 2*3600)).Format(time.RFC3339Nano)}, func(d fDoc) bool { return !d.UpdatedAt.Before(lo) }},
		{"empty range", map[string]any{"updatedAfter": ts(hi), "updatedBefore": ts(lo)}, func(fDoc) bool { return false }},
		{"title ignoring case", map[string]any{"titleContains": "INSPECTION 1"}, func(d fDoc) bool { return strings.Contains(strings.ToLower(d.Title), "inspection 1") }},
		{"title with %", map[string]any{"titleContains": "100%"}, func(d fDoc) bool { return d.Title == "Rate 100% done" }},
		{"title of only %", map[string]any{"titleContains": "%"}, func(d fDoc) bool { return d.Title == "Rate 100% done" }},
		{"title with _", map[string]any{"titleContains": "e_c"}, func(d fDoc) bool { return d.Title == "snake_case item" }},
		{"title of only _", map[string]any{"titleContains": "_"}, func(d fDoc) bool { return d.Title == "snake_case item" }},
		{"title with backslash", map[string]any{"titleContains": `k\s`}, func(d fDoc) bool { return d.Title == `back\slash` }},
		{"title matching nothing", map[string]any{"titleContains": "no such title"}, func(fDoc) bool { return false }},
		{"empty title text", map[string]any{"titleContains": ""}, func(fDoc) bool { return true }},
		{"everything at once", map[string]any{"folderId": folders["Harbour Tower"], "includeSubfolders": true, "status": []string{"DRAFT", "SUBMITTED"},
			"templateId": inspection, "updatedAfter": ts(times[0]), "titleContains": "inspection"},
			func(d fDoc) bool {
				return harbourTree(d.Folder.ID) && in("DRAFT", "SUBMITTED")(d.Status) && d.Template.ID == inspection
			}},
		{"unknown folder", map[string]any{"folderId": uuid.Must(uuid.NewV7()).String()}, func(fDoc) bool { return false }},
		{"malformed folder id", map[string]any{"folderId": "not-an-id"}, func(fDoc) bool { return false }},
		{"malformed folder id with subfolders", map[string]any{"folderId": "not-an-id", "includeSubfolders": true}, func(fDoc) bool { return false }},
		{"malformed template id", map[string]any{"templateId": "1 OR 1=1"}, func(fDoc) bool { return false }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var want []string
			for _, d := range all {
				if tc.want(d) {
					want = append(want, d.ID)
				}
			}
			var data struct {
				Documents struct {
					TotalCount int
					Nodes      []struct{ ID string }
				}
			}
			fOK(t, s, who.Admin, `query($f: DocumentFilter) { documents(first: 100, filter: $f) { totalCount nodes { id } } }`,
				map[string]any{"f": tc.filter}, &data)
			var got []string
			for _, n := range data.Documents.Nodes {
				got = append(got, n.ID)
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) || data.Documents.TotalCount != len(want) {
				t.Errorf("got %d documents (totalCount %d), want %d", len(got), data.Documents.TotalCount, len(want))
			}
		})
	}

	// The same filters apply to a folder's own list (its folderId is ignored there).
	var nested struct {
		Folder struct {
			Documents struct {
				TotalCount int
				Nodes      []struct{ ID, Status, Title string }
			}
		}
	}
	fOK(t, s, who.Admin, `query($id: ID!, $f: DocumentFilter) { folder(id: $id) { documents(first: 100, filter: $f) { totalCount nodes { id status title } } } }`,
		map[string]any{"id": folders["Riverside School"], "f": map[string]any{"status": []string{"DRAFT"}, "titleContains": "_", "folderId": folders["Harbour Tower"]}}, &nested)
	if d := nested.Folder.Documents; d.TotalCount != 1 || len(d.Nodes) != 1 || d.Nodes[0].Title != "snake_case item" {
		t.Errorf("Folder.documents with a filter: %s", fJSON(d))
	}
	fOK(t, s, who.Admin, `query($id: ID!, $f: DocumentFilter) { folder(id: $id) { documents(first: 100, filter: $f) { totalCount nodes { id status title } } } }`,
		map[string]any{"id": folders["Riverside School"], "f": map[string]any{"templateId": "not-an-id"}}, &nested)
	if d := nested.Folder.Documents; d.TotalCount != 0 || len(d.Nodes) != 0 {
		t.Errorf("Folder.documents with a malformed template id: %s", fJSON(d))
	}
}

// fSortCase is one sort order of a list, with the order it must produce.
type fSortCase struct {
	sort string
	less func(a, b fDoc) int
}

func fDocumentSorts(rank map[string]int) []fSortCase {
	byID := func(a, b fDoc) int { return strings.Compare(a.ID, b.ID) }
	asc := func(key func(a, b fDoc) int) func(a, b fDoc) int {
		return func(a, b fDoc) int { return cmp.Or(key(a, b), byID(a, b)) }
	}
	desc := func(key func(a, b fDoc) int) func(a, b fDoc) int {
		return func(a, b fDoc) int { return -cmp.Or(key(a, b), byID(a, b)) }
	}
	updated := func(a, b fDoc) int { return a.UpdatedAt.Compare(b.UpdatedAt) }
	created := func(a, b fDoc) int { return a.CreatedAt.Compare(b.CreatedAt) }
	title := func(a, b fDoc) int { return cmp.Compare(rank[a.Title], rank[b.Title]) }
	return []fSortCase{
		{"UPDATED_AT_DESC", desc(updated)}, {"UPDATED_AT_ASC", asc(updated)},
		{"CREATED_AT_DESC", desc(created)}, {"CREATED_AT_ASC", asc(created)},
		{"TITLE_ASC", asc(title)}, {"TITLE_DESC", desc(title)},
	}
}

// fPageThrough reads a list page by page (fetch returns the page's ids, its end cursor and
// whether more follow) and checks that the pages together hold want, in order, each item once.
func fPageThrough(t *testing.T, want []string, size int, fetch func(after any) (ids []string, total int, end *string, more bool)) {
	t.Helper()
	var got []string
	var after any
	for pages := 0; ; pages++ {
		if pages > len(want)/size+1 {
			t.Fatalf("paging does not end: %d pages for %d items", pages, len(want))
		}
		ids, total, end, more := fetch(after)
		if total != len(want) {
			t.Errorf("totalCount %d on page %d, want %d", total, pages, len(want))
		}
		if len(ids) > size || (more && len(ids) != size) {
			t.Errorf("page %d holds %d items (page size %d, more: %v)", pages, len(ids), size, more)
		}
		got = append(got, ids...)
		if !more {
			break
		}
		after = *end
	}
	seen := map[string]bool{}
	for _, id := range got {
		if seen[id] {
			t.Errorf("item %s on two pages", id)
		}
		seen[id] = true
	}
	if !slices.Equal(got, want) {
		t.Errorf("paging visited\n%v\nwant\n%v", got, want)
	}
}

func TestSortingIsStableAcrossPages(t *testing.T) {
	t.Parallel()
	s := testserver.New(t)
	who := fLogins(t, s)
	folders := fFolders(t, s, who.Admin)
	templates := fTemplates(t, s, who.Admin)

	// Equal titles and names make the id the tie breaker, across page boundaries too.
	for _, title := range []string{"Same title", "Same title", "Same title", "same title", "Ärchive", "zeta"} {
		fCreateDocument(t, s, who.Admin, folders["Harbour Tower/Foundations"], templates["Site inspection"], title, nil)
	}
	for _, name := range []string{"Dup", "Dup", "Dup", "alpha", "Zulu", "Ökoset"} {
		fCreateFolder(t, s, who.Admin, "", name)
		fCreateFolder(t, s, who.Admin, folders["Harbour Tower"], name)
	}
	all := fAllDocuments(t, s, who.Admin)
	titles := make([]string, 0, len(all))
	for _, d := range all {
		titles = append(titles, d.Title)
	}
	rank := fCollation(t, s, titles)

	docQuery := `query($sort: DocumentSort, $after: String) { documents(first: 10, sort: $sort, after: $after) {
		totalCount pageInfo { hasNextPage endCursor } nodes { id } } }`
	nestedQuery := `query($id: ID!, $sort: DocumentSort, $after: String) { folder(id: $id) { documents(first: 5, sort: $sort, after: $after) {
		totalCount pageInfo { hasNextPage endCursor } nodes { id } } } }`
	type conn struct {
		TotalCount int
		PageInfo   struct {
			HasNextPage bool
			EndCursor   *string
		}
		Nodes []struct{ ID string }
	}
	ids := func(c conn) []string {
		var out []string
		for _, n := range c.Nodes {
			out = append(out, n.ID)
		}
		return out
	}
	foundations := folders["Harbour Tower/Foundations"]
	for _, sc := range fDocumentSorts(rank) {
		t.Run("documents "+sc.sort, func(t *testing.T) {
			sorted := slices.Clone(all)
			slices.SortFunc(sorted, sc.less)
			var want, wantNested []string
			for _, d := range sorted {
				want = append(want, d.ID)
				if d.Folder.ID == foundations {
					wantNested = append(wantNested, d.ID)
				}
			}
			fPageThrough(t, want, 10, func(after any) ([]string, int, *string, bool) {
				var data struct{ Documents conn }
				fOK(t, s, who.Admin, docQuery, map[string]any{"sort": sc.sort, "after": after}, &data)
				c := data.Documents
				return ids(c), c.TotalCount, c.PageInfo.EndCursor, c.PageInfo.HasNextPage
			})
			fPageThrough(t, wantNested, 5, func(after any) ([]string, int, *string, bool) {
				var data struct{ Folder struct{ Documents conn } }
				fOK(t, s, who.Admin, nestedQuery, map[string]any{"id": foundations, "sort": sc.sort, "after": after}, &data)
				c := data.Folder.Documents
				return ids(c), c.TotalCount, c.PageInfo.EndCursor, c.PageInfo.HasNextPage
			})
		})
	}

	// Folders: the top level (Query.folders) and one folder's children (Folder.children).
	type folder struct {
		ID, Name  string
		CreatedAt time.Time
		Parent    *struct{ ID string }
	}
	var listed struct {
		Folders struct{ Nodes []folder }
		Folder  struct {
			Children struct{ Nodes []folder }
		}
	}
	fOK(t, s, who.Admin, `query($id: ID!) { folders(first: 100) { nodes { id name createdAt parent { id } } }
		folder(id: $id) { children(first: 100) { nodes { id name createdAt parent { id } } } } }`,
		map[string]any{"id": folders["Harbour Tower"]}, &listed)
	tops, children := listed.Folders.Nodes, listed.Folder.Children.Nodes
	if len(tops) != 3+6 || len(children) != 2+6 {
		t.Fatalf("%d top-level folders and %d children, want 9 and 8", len(tops), len(children))
	}
	for _, f := range tops {
		if f.Parent != nil {
			t.Errorf("top-level folder %q has a parent", f.Name)
		}
	}
	var names []string
	for _, f := range append(slices.Clone(tops), children...) {
		names = append(names, f.Name)
	}
	rank = fCollation(t, s, names)
	byID := func(a, b folder) int { return strings.Compare(a.ID, b.ID) }
	name := func(a, b folder) int { return cmp.Or(cmp.Compare(rank[a.Name], rank[b.Name]), byID(a, b)) }
	created := func(a, b folder) int { return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), byID(a, b)) }
	neg := func(f func(a, b folder) int) func(a, b folder) int { return func(a, b folder) int { return -f(a, b) } }
	for _, sc := range []struct {
		sort string
		less func(a, b folder) int
	}{{"NAME_ASC", name}, {"NAME_DESC", neg(name)}, {"CREATED_AT_ASC", created}, {"CREATED_AT_DESC", neg(created)}} {
		t.Run("folders "+sc.sort, func(t *testing.T) {
			order := func(list []folder) []string {
				list = slices.Clone(list)
				slices.SortFunc(list, sc.less)
				var out []string
				for _, f := range list {
					out = append(out, f.ID)
				}
				return out
			}
			fPageThrough(t, order(tops), 2, func(after any) ([]string, int, *string, bool) {
				var data struct{ Folders conn }
				fOK(t, s, who.Admin, `query($sort: FolderSort, $after: String) { folders(first: 2, sort: $sort, after: $after) {
					totalCount pageInfo { hasNextPage endCursor } nodes { id } } }`, map[string]any{"sort": sc.sort, "after": after}, &data)
				c := data.Folders
				return ids(c), c.TotalCount, c.PageInfo.EndCursor, c.PageInfo.HasNextPage
			})
			fPageThrough(t, order(children), 3, func(after any) ([]string, int, *string, bool) {
				var data struct{ Folder struct{ Children conn } }
				fOK(t, s, who.Admin, `query($id: ID!, $sort: FolderSort, $after: String) { folder(id: $id) { children(first: 3, sort: $sort, after: $after) {
					totalCount pageInfo { hasNextPage endCursor } nodes { id } } } }`,
					map[string]any{"id": folders["Harbour Tower"], "sort": sc.sort, "after": after}, &data)
				c := data.Folder.Children
				return ids(c), c.TotalCount, c.PageInfo.EndCursor, c.PageInfo.HasNextPage
			})
			// folders(filter: {parentId}) lists the same children.
			fPageThrough(t, order(children), 4, func(after any) ([]string, int, *string, bool) {
				var data struct{ Folders conn }
				fOK(t, s, who.Admin, `query($p: ID, $sort: FolderSort, $after: String) { folders(first: 4, filter: {parentId: $p}, sort: $sort, after: $after) {
					totalCount pageInfo { hasNextPage endCursor } nodes { id } } }`,
					map[string]any{"p": folders["Harbour Tower"], "sort": sc.sort, "after": after}, &data)
				c := data.Folders
				return ids(c), c.TotalCount, c.PageInfo.EndCursor, c.PageInfo.HasNextPage
			})
		})
	}

	// A cursor belongs to its sort order: one of a title sort is refused by a time sort.
	var first struct {
		Documents struct{ PageInfo struct{ EndCursor string } }
	}
	fOK(t, s, who.Admin, `{ documents(first: 1, sort: TITLE_ASC) { pageInfo { endCursor } } }`, nil, &first)
	e := fFail(t, s, who.Admin, `query($a: String) { documents(first: 1, sort: UPDATED_AT_DESC, after: $a) { totalCount } }`,
		map[string]any{"a": first.Documents.PageInfo.EndCursor}, "BAD_USER_INPUT")
	if e.Extensions["field"] != "after" {
		t.Errorf("field %v, want after", e.Extensions["field"])
	}
}

// fCheckNode checks node(id:) for each kind of object it resolves, and for ids it must not.
func fCheckNode(t *testing.T, s *testserver.Server, who fAcme) {
	folders := fFolders(t, s, who.Admin)
	templates := fTemplates(t, s, who.Admin)
	all := fAllDocuments(t, s, who.Admin)
	betaDoc := fAllDocuments(t, s, s.Login(t, "admin@beta.test"))[0].ID

	const q = `query($id: ID!) { node(id: $id) { __typename id
		... on Document { title }
		... on Folder { name }
		... on DocumentTemplate { name fields { key } } } }`
	type node struct {
		Typename string `json:"__typename"`
		ID       string
		Title    string
		Name     string
	}
	for _, tc := range []struct{ id, typ, want string }{
		{all[0].ID, "Document", all[0].Title},
		{folders["Harbour Tower/Structure"], "Folder", "Structure"},
		{templates["Concrete pour report"], "DocumentTemplate", "Concrete pour report"},
	} {
		var data struct{ Node *node }
		fOK(t, s, who.Admin, q, map[string]any{"id": tc.id}, &data)
		if n := data.Node; n == nil || n.Typename != tc.typ || n.ID != tc.id || n.Title+n.Name != tc.want {
			t.Errorf("node(%s) = %s, want a %s %q", tc.id, fJSON(n), tc.typ, tc.want)
		}
	}
	for name, id := range map[string]string{
		"unknown":                  uuid.Must(uuid.NewV7()).String(),
		"malformed":                "not-an-id",
		"empty":                    "",
		"another company's":        betaDoc,
		"restricted, for a member": folders["HR & Safety"],
	} {
		t.Run(name, func(t *testing.T) {
			token := who.Admin
			if strings.Contains(name, "member") {
				token = who.Member
			}
			res := s.Do(t, testserver.Request{Query: q, Variables: map[string]any{"id": id}, Token: token}, nil)
			fOne(t, res, "NOT_FOUND")
			if string(res.Data) != `{"node":null}` {
				t.Errorf("data %s", res.Data)
			}
		})
	}
}

func TestFolderWrites(t *testing.T) {
	t.Parallel()
	s := testserver.New(t)
	who := fLogins(t, s)
	templates := fTemplates(t, s, who.Admin)
	const create = `mutation($in: CreateFolderInput!) { createFolder(input: $in) {
		id name description restricted parent { id } owner { name } viewerCan { edit manage } } }`
	type folder struct {
		ID, Name, Description string
		Restricted            bool
		Parent                *struct{ ID string }
		Owner                 struct{ Name string }
		ViewerCan             struct{ Edit, Manage bool }
	}
	countTop := func() int {
		var data struct{ Folders struct{ TotalCount int } }
		fOK(t, s, who.Admin, `{ folders { totalCount } }`, nil, &data)
		return data.Folders.TotalCount
	}

	// Top level: MANAGER and above.
	var top struct{ CreateFolder folder }
	fOK(t, s, who.Manager, create, map[string]any{"in": map[string]any{"name": "  New site  ", "description": "first"}}, &top)
	f := top.CreateFolder
	if f.Name != "New site" || f.Description != "first" || f.Restricted || f.Parent != nil || f.Owner.Name != "Matti Manager" || !f.ViewerCan.Manage {
		t.Errorf("created %s", fJSON(f))
	}
	before := countTop()
	fFail(t, s, who.Member, create, map[string]any{"in": map[string]any{"name": "Not mine"}}, "FORBIDDEN")
	if countTop() != before {
		t.Error("a refused createFolder created a folder")
	}
	for _, name := range []string{"", "   ", strings.Repeat("x", 201)} {
		e := fFail(t, s, who.Manager, create, map[string]any{"in": map[string]any{"name": name}}, "BAD_USER_INPUT")
		if e.Extensions["field"] != "name" {
			t.Errorf("name %q: field %v", name, e.Extensions["field"])
		}
	}

	// A subfolder: EDIT on the parent; a MEMBER only views the manager's folder.
	var sub struct{ CreateFolder folder }
	fOK(t, s, who.Manager, create, map[string]any{"in": map[string]any{"name": "Block A", "parentId": f.ID, "restricted": true}}, &sub)
	if p := sub.CreateFolder.Parent; p == nil || p.ID != f.ID || !sub.CreateFolder.Restricted {
		t.Errorf("subfolder %s", fJSON(sub.CreateFolder))
	}
	fFail(t, s, who.Member, create, map[string]any{"in": map[string]any{"name": "Block B", "parentId": f.ID}}, "FORBIDDEN")
	fFail(t, s, who.Manager, create, map[string]any{"in": map[string]any{"name": "Orphan", "parentId": uuid.Must(uuid.NewV7()).String()}}, "NOT_FOUND")
	fFail(t, s, who.Manager, create, map[string]any{"in": map[string]any{"name": "Orphan", "parentId": "not-an-id"}}, "NOT_FOUND")

	// Partial updates change only what is sent.
	const update = `mutation($id: ID!, $in: UpdateFolderInput!) { updateFolder(id: $id, input: $in) { id name description restricted updatedAt } }`
	type updated struct {
		UpdateFolder struct {
			Name, Description string
			Restricted        bool
			UpdatedAt         time.Time
		}
	}
	for _, step := range []struct {
		in                map[string]any
		name, description string
		restricted        bool
	}{
		{map[string]any{"name": "Renamed"}, "Renamed", "first", false},
		{map[string]any{"description": "second"}, "Renamed", "second", false},
		{map[string]any{"restricted": true}, "Renamed", "second", true},
		{map[string]any{}, "Renamed", "second", true},
		{map[string]any{"name": "Final", "description": "", "restricted": false}, "Final", "", false},
	} {
		var data updated
		fOK(t, s, who.Manager, update, map[string]any{"id": f.ID, "in": step.in}, &data)
		var read struct {
			Folder struct {
				Name, Description string
				Restricted        bool
			}
		}
		fOK(t, s, who.Admin, `query($id: ID!) { folder(id: $id) { name description restricted } }`, map[string]any{"id": f.ID}, &read)
		u, r := data.UpdateFolder, read.Folder
		if u.Name != step.name || u.Description != step.description || u.Restricted != step.restricted ||
			r.Name != step.name || r.Description != step.description || r.Restricted != step.restricted {
			t.Errorf("after %v: returned %s, stored %s", step.in, fJSON(u), fJSON(r))
		}
	}
	fFail(t, s, who.Manager, update, map[string]any{"id": f.ID, "in": map[string]any{"name": ""}}, "BAD_USER_INPUT")
	fFail(t, s, who.Member, update, map[string]any{"id": f.ID, "in": map[string]any{"name": "Member's"}}, "FORBIDDEN")

	// Deleting a folder takes what is below it along.
	docTop := fCreateDocument(t, s, who.Manager, f.ID, templates["Site inspection"], "Top doc", nil)
	docSub := fCreateDocument(t, s, who.Manager, sub.CreateFolder.ID, templates["Site inspection"], "Sub doc", nil)
	total := len(fAllDocuments(t, s, who.Admin))
	fFail(t, s, who.Member, `mutation($id: ID!) { deleteFolder(id: $id) { id } }`, map[string]any{"id": f.ID}, "FORBIDDEN")
	var del struct{ DeleteFolder struct{ ID string } }
	fOK(t, s, who.Manager, `mutation($id: ID!) { deleteFolder(id: $id) { id } }`, map[string]any{"id": f.ID}, &del)
	if del.DeleteFolder.ID != f.ID {
		t.Errorf("deleteFolder returned %q", del.DeleteFolder.ID)
	}
	for _, id := range []string{docTop, docSub} {
		fFail(t, s, who.Admin, `query($id: ID!) { document(id: $id) { id } }`, map[string]any{"id": id}, "NOT_FOUND")
	}
	for _, id := range []string{f.ID, sub.CreateFolder.ID} {
		fFail(t, s, who.Admin, `query($id: ID!) { folder(id: $id) { id } }`, map[string]any{"id": id}, "NOT_FOUND")
	}
	var left struct {
		Documents struct{ TotalCount int }
		Folders   struct{ Nodes []struct{ ID string } }
	}
	fOK(t, s, who.Admin, `query($f: ID) { documents(filter: {folderId: $f, includeSubfolders: true}) { totalCount } folders(first: 100) { nodes { id } } }`,
		map[string]any{"f": f.ID}, &left)
	if left.Documents.TotalCount != 0 || slices.ContainsFunc(left.Folders.Nodes, func(n struct{ ID string }) bool { return n.ID == f.ID }) {
		t.Errorf("the deleted folder still lists: %s", fJSON(left))
	}
	if n := len(fAllDocuments(t, s, who.Admin)); n != total-2 {
		t.Errorf("%d documents after deleting two, want %d", n, total-2)
	}
	fFail(t, s, who.Manager, `mutation($id: ID!) { deleteFolder(id: $id) { id } }`, map[string]any{"id": f.ID}, "NOT_FOUND")
}

func TestTemplatesValidateValues(t *testing.T) {
	t.Parallel()
	s := testserver.New(t)
	who := fLogins(t, s)
	folder := fCreateFolder(t, s, who.Manager, "", "Values")

	// createTemplate: ADMIN only, every field type.
	const createTemplate = `mutation($in: CreateTemplateInput!) { createTemplate(input: $in) {
		id name description version fields { key label type required options personal } } }`
	fields := []map[string]any{
		{"key": "text", "label": "Text", "type": "TEXT", "required": true},
		{"key": "num", "label": "Number", "type": "NUMBER"},
		{"key": "day", "label": "Day", "type": "DATE"},
		{"key": "ok", "label": "OK", "type": "CHECKBOX", "required": true},
		{"key": "pick", "label": "Pick", "type": "CHOICE", "options": []string{"A", "B"}},
		{"key": "pic", "label": "Photo", "type": "PHOTO"},
		{"key": "sig", "label": "Signature", "type": "SIGNATURE", "personal": true},
	}
	tmplIn := map[string]any{"name": "Every type", "fields": fields}
	for _, token := range []string{who.Manager, who.Member} {
		fFail(t, s, token, createTemplate, map[string]any{"in": tmplIn}, "FORBIDDEN")
	}
	var tmpl struct {
		CreateTemplate struct {
			ID, Name, Description string
			Version               int
			Fields                []struct {
				Key, Label, Type   string
				Required, Personal bool
				Options            []string
			}
		}
	}
	fOK(t, s, who.Admin, createTemplate, map[string]any{"in": tmplIn}, &tmpl)
	ct := tmpl.CreateTemplate
	if ct.Name != "Every type" || ct.Description != "" || ct.Version != 1 || len(ct.Fields) != len(fields) ||
		ct.Fields[0].Key != "text" || !ct.Fields[0].Required || ct.Fields[1].Required || ct.Fields[4].Type != "CHOICE" ||
		!slices.Equal(ct.Fields[4].Options, []string{"A", "B"}) || !ct.Fields[6].Personal {
		t.Errorf("created template %s", fJSON(ct))
	}
	for _, tc := range []struct {
		name   string
		fields []map[string]any
		field  string
	}{
		{"no fields", []map[string]any{}, "fields"},
		{"choice without options", []map[string]any{{"key": "c", "label": "C", "type": "CHOICE"}}, "fields.0.options"},
		{"key with a space", []map[string]any{{"key": "bad key", "label": "B", "type": "TEXT"}}, "fields.0.key"},
		{"key starting upper case", []map[string]any{{"key": "Bad", "label": "B", "type": "TEXT"}}, "fields.0.key"},
		{"key twice", []map[string]any{{"key": "a", "label": "A", "type": "TEXT"}, {"key": "a", "label": "A2", "type": "DATE"}}, "fields.1.key"},
		{"empty label", []map[string]any{{"key": "a", "label": " ", "type": "TEXT"}}, "fields.0.label"},
	} {
		e := fFail(t, s, who.Admin, createTemplate, map[string]any{"in": map[string]any{"name": "Bad", "fields": tc.fields}}, "BAD_USER_INPUT")
		if e.Extensions["field"] != tc.field {
			t.Errorf("%s: field %v, want %s", tc.name, e.Extensions["field"], tc.field)
		}
	}
	fFail(t, s, who.Admin, createTemplate, map[string]any{"in": map[string]any{"name": "Bad", "fields": []map[string]any{{"key": "a", "label": "A", "type": "COLOUR"}}}}, "BAD_USER_INPUT")

	// createDocument validates values against the template.
	const createDoc = `mutation($in: CreateDocumentInput!) { createDocument(input: $in) {
		id title status version values owner { name } template { id } folder { id } } }`
	good := map[string]any{"text": "hello", "num": 3.5, "day": "2026-02-28", "ok": true, "pick": "B", "pic": "photos/1.jpg", "sig": "signed"}
	var doc struct {
		CreateDocument struct {
			ID, Title, Status string
			Version           int
			Values            map[string]any
			Owner             struct{ Name string }
			Template, Folder  struct{ ID string }
		}
	}
	fOK(t, s, who.Manager, createDoc, map[string]any{"in": map[string]any{"folderId": folder, "templateId": ct.ID, "title": "Good", "values": good}}, &doc)
	d := doc.CreateDocument
	if d.Title != "Good" || d.Status != "DRAFT" || d.Version != 1 || d.Owner.Name != "Matti Manager" || d.Template.ID != ct.ID || d.Folder.ID != folder {
		t.Errorf("created %s", fJSON(d))
	}
	if fJSON(d.Values) != fJSON(good) {
		t.Errorf("values %s, want %s", fJSON(d.Values), fJSON(good))
	}
	var ints struct {
		CreateDocument struct{ Values map[string]any }
	}
	fOK(t, s, who.Manager, `mutation($f: ID!, $t: ID!) { createDocument(input: {folderId: $f, templateId: $t, title: "Literal", values: {num: 7, ok: false}}) { values } }`,
		map[string]any{"f": folder, "t": ct.ID}, &ints)
	if ints.CreateDocument.Values["num"] != 7.0 || ints.CreateDocument.Values["ok"] != false {
		t.Errorf("values from literals: %s", fJSON(ints.CreateDocument.Values))
	}

	countDocs := func() int {
		var data struct{ Documents struct{ TotalCount int } }
		fOK(t, s, who.Admin, `query($f: ID) { documents(filter: {folderId: $f}) { totalCount } }`, map[string]any{"f": folder}, &data)
		return data.Documents.TotalCount
	}
	before := countDocs()
	for _, tc := range []struct {
		name   string
		values any
		field  string
	}{
		{"text as number", map[string]any{"text": 5}, "values.text"},
		{"text as bool", map[string]any{"text": true}, "values.text"},
		{"text as object", map[string]any{"text": map[string]any{"a": 1}}, "values.text"},
		{"text as list", map[string]any{"text": []any{"a"}}, "values.text"},
		{"number as string", map[string]any{"num": "5"}, "values.num"},
		{"number as NaN", map[string]any{"num": "NaN"}, "values.num"},
		{"number as Infinity", map[string]any{"num": "Infinity"}, "values.num"},
		{"number overflowing", map[string]any{"num": jsonNumber("1e400")}, "values.num"},
		{"number as bool", map[string]any{"num": true}, "values.num"},
		{"date of no day", map[string]any{"day": "2026-02-30"}, "values.day"},
		{"date in another format", map[string]any{"day": "28.02.2026"}, "values.day"},
		{"date with a time", map[string]any{"day": "2026-02-28T10:00:00Z"}, "values.day"},
		{"date as number", map[string]any{"day": 20260228}, "values.day"},
		{"checkbox as string", map[string]any{"ok": "true"}, "values.ok"},
		{"checkbox as number", map[string]any{"ok": 1}, "values.ok"},
		{"choice not an option", map[string]any{"pick": "C"}, "values.pick"},
		{"choice in other case", map[string]any{"pick": "a"}, "values.pick"},
		{"choice as list", map[string]any{"pick": []any{"A"}}, "values.pick"},
		{"photo as number", map[string]any{"pic": 1}, "values.pic"},
		{"signature as object", map[string]any{"sig": map[string]any{"x": 1}}, "values.sig"},
		{"unknown key", map[string]any{"nope": "x"}, "values.nope"},
		{"unknown key beside good ones", map[string]any{"text": "fine", "Text": "x"}, "values.Text"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := fFail(t, s, who.Manager, createDoc, map[string]any{"in": map[string]any{"folderId": folder, "templateId": ct.ID, "title": "Bad", "values": tc.values}}, "BAD_USER_INPUT")
			if e.Extensions["field"] != tc.field {
				t.Errorf("field %v, want %s (%s)", e.Extensions["field"], tc.field, e.Message)
			}
		})
	}
	for _, tc := range []struct {
		name string
		in   map[string]any
		code string
	}{
		{"values not an object", map[string]any{"values": []any{1}}, "BAD_USER_INPUT"},
		{"values a string", map[string]any{"values": "x"}, "BAD_USER_INPUT"},
		{"empty title", map[string]any{"title": " "}, "BAD_USER_INPUT"},
		{"long title", map[string]any{"title": strings.Repeat("t", 301)}, "BAD_USER_INPUT"},
		{"unknown template", map[string]any{"templateId": uuid.Must(uuid.NewV7()).String()}, "NOT_FOUND"},
		{"malformed template id", map[string]any{"templateId": "not-an-id"}, "NOT_FOUND"},
		{"unknown folder", map[string]any{"folderId": uuid.Must(uuid.NewV7()).String()}, "NOT_FOUND"},
		{"malformed folder id", map[string]any{"folderId": "not-an-id"}, "NOT_FOUND"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := map[string]any{"folderId": folder, "templateId": ct.ID, "title": "Bad"}
			for k, v := range tc.in {
				in[k] = v
			}
			fFail(t, s, who.Manager, createDoc, map[string]any{"in": in}, tc.code)
		})
	}
	// Another company's template cannot be used in this one.
	var beta struct {
		Templates struct{ Nodes []struct{ ID string } }
	}
	fOK(t, s, s.Login(t, "admin@beta.test"), `{ templates { nodes { id } } }`, nil, &beta)
	fFail(t, s, who.Manager, createDoc, map[string]any{"in": map[string]any{"folderId": folder, "templateId": beta.Templates.Nodes[0].ID, "title": "Cross"}}, "NOT_FOUND")
	if n := countDocs(); n != before {
		t.Errorf("refused createDocument calls left %d documents behind", n-before)
	}
}

// jsonNumber sends a number that no float64 can hold.
type jsonNumber string

func (n jsonNumber) MarshalJSON() ([]byte, error) { return []byte(n), nil }

func TestDocumentUpdates(t *testing.T) {
	t.Parallel()
	s := testserver.New(t)
	who := fLogins(t, s)
	folders := fFolders(t, s, who.Admin)
	templates := fTemplates(t, s, who.Admin)
	inspection := templates["Site inspection"]

	const update = `mutation($id: ID!, $in: UpdateDocumentInput!) { updateDocument(id: $id, input: $in) { id title status version values updatedAt } }`
	type doc struct {
		ID, Title, Status string
		Version           int
		Values            map[string]any
		UpdatedAt         time.Time
	}
	read := func(id string) doc {
		t.Helper()
		var data struct{ Document doc }
		fOK(t, s, who.Admin, `query($id: ID!) { document(id: $id) { id title status version values updatedAt } }`, map[string]any{"id": id}, &data)
		return data.Document
	}
	upd := func(token, id string, in map[string]any) doc {
		t.Helper()
		var data struct{ UpdateDocument doc }
		fOK(t, s, token, update, map[string]any{"id": id, "in": in}, &data)
		if stored := read(id); fJSON(stored) != fJSON(data.UpdateDocument) {
			t.Errorf("updateDocument returned %s, the document is %s", fJSON(data.UpdateDocument), fJSON(stored))
		}
		return data.UpdateDocument
	}

	// Partial values: keys not sent stay, null clears.
	id := fCreateDocument(t, s, who.Manager, folders["Riverside School"], inspection, "Partial",
		map[string]any{"inspector": "Ida", "weather": "Rain", "temperature": 4})
	steps := []struct {
		in      map[string]any
		title   string
		values  string
		version int
	}{
		{map[string]any{"expectedVersion": 1, "values": map[string]any{"temperature": 6}}, "Partial", `{"inspector":"Ida","temperature":6,"weather":"Rain"}`, 2},
		{map[string]any{"expectedVersion": 2, "title": "Renamed"}, "Renamed", `{"inspector":"Ida","temperature":6,"weather":"Rain"}`, 3},
		{map[string]any{"expectedVersion": 3, "values": map[string]any{"weather": nil, "notes": "n"}}, "Renamed", `{"inspector":"Ida","notes":"n","temperature":6}`, 4},
		{map[string]any{"expectedVersion": 4, "values": map[string]any{}}, "Renamed", `{"inspector":"Ida","notes":"n","temperature":6}`, 4},
		{map[string]any{"expectedVersion": 4, "values": map[string]any{"notes": "n"}, "title": "Renamed"}, "Renamed", `{"inspector":"Ida","notes":"n","temperature":6}`, 4},
	}
	for i, st := range steps {
		d := upd(who.Manager, id, st.in)
		var values map[string]any
		if err := json.Unmarshal([]byte(st.values), &values); err != nil {
			t.Fatal(err)
		}
		if d.Title != st.title || fJSON(d.Values) != fJSON(values) || d.Version != st.version || d.Status != "DRAFT" {
			t.Errorf("step %d: %s", i, fJSON(d))
		}
	}

	// A stale version is a CONFLICT and changes nothing.
	was := read(id)
	for _, in := range []map[string]any{
		{"expectedVersion": 3, "title": "Stale"},
		{"expectedVersion": 5, "values": map[string]any{"notes": "future"}},
		{"expectedVersion": 0, "status": "SUBMITTED"},
	} {
		fFail(t, s, who.Manager, update, map[string]any{"id": id, "in": in}, "CONFLICT")
	}
	if now := read(id); fJSON(now) != fJSON(was) {
		t.Errorf("a refused update changed the document:\n%s\nwas\n%s", fJSON(now), fJSON(was))
	}
	// Bad input changes nothing either.
	for _, tc := range []struct {
		in    map[string]any
		field string
	}{
		{map[string]any{"expectedVersion": 4, "values": map[string]any{"temperature": "warm"}}, "values.temperature"},
		{map[string]any{"expectedVersion": 4, "values": map[string]any{"notes": "ok", "nope": 1}}, "values.nope"},
		{map[string]any{"expectedVersion": 4, "title": ""}, "title"},
		{map[string]any{"expectedVersion": 4, "status": "APPROVED"}, "status"},
	} {
		e := fFail(t, s, who.Manager, update, map[string]any{"id": id, "in": tc.in}, "BAD_USER_INPUT")
		if e.Extensions["field"] != tc.field {
			t.Errorf("%v: field %v, want %s", tc.in, e.Extensions["field"], tc.field)
		}
	}
	if now := read(id); fJSON(now) != fJSON(was) {
		t.Errorf("refused input changed the document: %s", fJSON(now))
	}
	fFail(t, s, who.Member, update, map[string]any{"id": id, "in": map[string]any{"expectedVersion": 4, "title": "Member"}}, "FORBIDDEN")
	fFail(t, s, who.Manager, update, map[string]any{"id": uuid.Must(uuid.NewV7()).String(), "in": map[string]any{"expectedVersion": 1}}, "NOT_FOUND")
	fFail(t, s, who.Manager, update, map[string]any{"id": "not-an-id", "in": map[string]any{"expectedVersion": 1}}, "NOT_FOUND")

	// Status: submitting needs the required fields; approving and archiving need MANAGE.
	// The admin owns this document; the manager has EDIT on it, not MANAGE.
	sid := fCreateDocument(t, s, who.Admin, folders["Riverside School"], inspection, "Status", map[string]any{"inspector": "Ida"})
	e := fFail(t, s, who.Manager, update, map[string]any{"id": sid, "in": map[string]any{"expectedVersion": 1, "status": "SUBMITTED"}}, "BAD_USER_INPUT")
	if e.Extensions["field"] != "values.date" {
		t.Errorf("submitting without a required field: field %v, want values.date", e.Extensions["field"])
	}
	if d := read(sid); d.Status != "DRAFT" || d.Version != 1 {
		t.Errorf("a refused submit changed the document: %s", fJSON(d))
	}
	d := upd(who.Manager, sid, map[string]any{"expectedVersion": 1, "status": "SUBMITTED", "values": map[string]any{"date": "2026-05-01", "scaffoldingOk": false}})
	if d.Status != "SUBMITTED" || d.Version != 2 {
		t.Errorf("submitted: %s", fJSON(d))
	}
	e = fFail(t, s, who.Manager, update, map[string]any{"id": sid, "in": map[string]any{"expectedVersion": 2, "values": map[string]any{"inspector": nil}}}, "BAD_USER_INPUT")
	if e.Extensions["field"] != "values.inspector" {
		t.Errorf("clearing a required field of a submitted document: field %v", e.Extensions["field"])
	}
	for _, status := range []string{"APPROVED", "ARCHIVED"} {
		fFail(t, s, who.Manager, update, map[string]any{"id": sid, "in": map[string]any{"expectedVersion": 2, "status": status}}, map[string]string{"APPROVED": "FORBIDDEN", "ARCHIVED": "BAD_USER_INPUT"}[status])
	}
	if d := read(sid); d.Status != "SUBMITTED" || d.Version != 2 {
		t.Errorf("refused transitions changed the document: %s", fJSON(d))
	}
	d = upd(who.Admin, sid, map[string]any{"expectedVersion": 2, "status": "APPROVED"})
	if d.Status != "APPROVED" || d.Version != 3 {
		t.Errorf("approved: %s", fJSON(d))
	}
	fFail(t, s, who.Admin, update, map[string]any{"id": sid, "in": map[string]any{"expectedVersion": 3, "values": map[string]any{"notes": "late"}}}, "BAD_USER_INPUT")
	fFail(t, s, who.Admin, update, map[string]any{"id": sid, "in": map[string]any{"expectedVersion": 3, "status": "DRAFT"}}, "BAD_USER_INPUT")
	fFail(t, s, who.Manager, update, map[string]any{"id": sid, "in": map[string]any{"expectedVersion": 3, "status": "ARCHIVED"}}, "FORBIDDEN")
	if d = upd(who.Admin, sid, map[string]any{"expectedVersion": 3, "status": "ARCHIVED"}); d.Status != "ARCHIVED" || d.Version != 4 {
		t.Errorf("archived: %s", fJSON(d))
	}

	// Comments: VIEW is enough; the body is checked.
	const comment = `mutation($d: ID!, $b: String!) { addComment(documentId: $d, body: $b) { id body createdAt author { name } } }`
	var c struct {
		AddComment struct {
			ID, Body string
			Author   struct{ Name string }
		}
	}
	fOK(t, s, who.Member, comment, map[string]any{"d": sid, "b": "  Looks right.  "}, &c)
	if c.AddComment.Body != "Looks right." || c.AddComment.Author.Name != "Meri Member" || c.AddComment.ID == "" {
		t.Errorf("comment %s", fJSON(c.AddComment))
	}
	for _, body := range []string{"", "   ", strings.Repeat("b", 10001)} {
		e := fFail(t, s, who.Member, comment, map[string]any{"d": sid, "b": body}, "BAD_USER_INPUT")
		if e.Extensions["field"] != "body" {
			t.Errorf("comment body of %d bytes: field %v", len(body), e.Extensions["field"])
		}
	}
	fFail(t, s, who.Member, comment, map[string]any{"d": uuid.Must(uuid.NewV7()).String(), "b": "x"}, "NOT_FOUND")
	var comments struct {
		Document struct {
			Comments struct {
				TotalCount int
				Nodes      []struct{ Body string }
			}
		}
	}
	fOK(t, s, who.Admin, `query($id: ID!) { document(id: $id) { comments { totalCount nodes { body } } } }`, map[string]any{"id": sid}, &comments)
	if cm := comments.Document.Comments; cm.TotalCount != 1 || len(cm.Nodes) != 1 || cm.Nodes[0].Body != "Looks right." {
		t.Errorf("comments %s", fJSON(cm))
	}
}
