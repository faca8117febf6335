package storage

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/laatu/laatu/internal/access"
)

// TestPreparedReads checks the prepared hot reads of PostgreSQL (prepared.go): their texts
// carry no value (no principal, company, object or cursor in them, so one text serves every
// caller), and once prepared they answer exactly as the first, unprepared run did, for every
// kind of caller.
func TestPreparedReads(t *testing.T) {
	w := newScopeWorld(t)
	if w.s.stmts == nil {
		t.Skip("reads are prepared on PostgreSQL only")
	}
	title := "D"
	filter := DocumentFilter{Statuses: []Status{Draft, Submitted}, TitleContains: &title}
	type answer struct{ roots, docs, page2, byFolder []string }
	read := func(p *access.Principal) answer {
		t.Helper()
		ctx := access.NewContext(context.Background(), p)
		var a answer
		roots, err := w.s.Folders(ctx, FolderFilter{Roots: true}, FolderNameAsc, PageArgs{First: 10})
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range roots.Items {
			a.roots = append(a.roots, f.ID)
		}
		docs, err := w.s.Documents(ctx, filter, DocumentTitleAsc, PageArgs{First: 2})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range docs.Items {
			a.docs = append(a.docs, d.ID)
		}
		if docs.HasNext {
			next, err := w.s.Documents(ctx, filter, DocumentTitleAsc, PageArgs{First: 2, After: docs.Cursors[len(docs.Cursors)-1]})
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range next.Items {
				a.page2 = append(a.page2, d.ID)
			}
		}
		var parents []Parent
		for _, f := range []string{w.folderA, w.folderRestricted} {
			parents = append(parents, Parent{CompanyID: w.adminA.CompanyID, ID: f})
		}
		pages, err := w.s.DocumentsByFolder(ctx, parents, DocumentFilter{}, DocumentTitleAsc, PageArgs{First: 10})
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{w.folderA, w.folderRestricted} {
			for _, d := range pages[f].Items {
				a.byFolder = append(a.byFolder, d.ID)
			}
		}
		return a
	}
	callers := map[string]*access.Principal{"admin of A": w.adminA, "member of A": w.memberA, "admin of B": w.adminB, "guest": w.guest}
	first := map[string]answer{}
	for name, p := range callers {
		first[name] = read(p)
	}
	if got := first["member of A"]; len(got.docs) != 2 || len(got.page2) != 1 || len(got.byFolder) != 3 {
		t.Fatalf("member of A, unprepared: %+v; want 2 + 1 documents of the open folder, and its 3 by folder", got)
	}

	// Preparing happens in the background: wait, within a generous deadline, until every text
	// the reads used is prepared.
	deadline := time.Now().Add(30 * time.Second)
	for {
		w.s.stmts.mu.Lock()
		pending := len(w.s.stmts.pending)
		w.s.stmts.mu.Unlock()
		if pending == 0 && w.s.stmts.cache.Len() > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("statements still being prepared after 30s: %d pending, %d prepared", pending, w.s.stmts.cache.Len())
		}
		time.Sleep(20 * time.Millisecond)
	}
	texts := w.s.stmts.cache.Keys()
	for _, text := range texts {
		for _, v := range []string{w.adminA.UserID, w.adminA.CompanyID, w.memberA.UserID, w.adminB.CompanyID, w.guest.UserID, w.folderA, title + "%"} {
			if strings.Contains(text, v) {
				t.Errorf("a prepared text holds the value %q, so it cannot serve other callers:\n%s", v, text)
			}
		}
	}
	for name, p := range callers {
		if got := read(p); !slices.Equal(got.roots, first[name].roots) || !slices.Equal(got.docs, first[name].docs) ||
			!slices.Equal(got.page2, first[name].page2) || !slices.Equal(got.byFolder, first[name].byFolder) {
			t.Errorf("%s: prepared %+v, unprepared %+v", name, got, first[name])
		}
	}
	if n := w.s.stmts.cache.Len(); n != len(texts) {
		t.Errorf("the second round prepared %d more texts: the texts depend on the values", n-len(texts))
	}
}
