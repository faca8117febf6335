package backup_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/laatu/laatu/internal/backup"
	"github.com/laatu/laatu/internal/testserver"
)

// TestRestoreObject brings a purged document back from a backup as it was, with its comment;
// an edited one back as a new version; a purged folder back with its documents; each with a
// RESTORE event naming the backup, and the audit chains still verify.
func TestRestoreObject(t *testing.T) {
	s := testserver.New(t)
	ctx := context.Background()
	admin := s.Login(t, "admin@acme.test")
	var acme string
	if err := s.DB.Owner.NewRaw("SELECT id FROM companies WHERE name = 'Acme Construction'").Scan(ctx, &acme); err != nil {
		t.Fatal(err)
	}
	do := func(query string, vars map[string]any, into any) {
		t.Helper()
		testserver.MustOK(t, s.Do(t, testserver.Request{Query: query, Variables: vars, Token: admin}, into))
	}
	var tmpl struct {
		Templates struct{ Nodes []struct{ ID string } }
	}
	do(`{ templates(first: 1) { nodes { id } } }`, nil, &tmpl)
	var f struct{ CreateFolder struct{ ID string } }
	do(`mutation { createFolder(input: {name: "Backed up"}) { id } }`, nil, &f)
	folder := f.CreateFolder.ID
	newDoc := func(title string) string {
		var d struct{ CreateDocument struct{ ID string } }
		do(`mutation($f: ID!, $t: ID!, $title: String!) { createDocument(input: {folderId: $f, templateId: $t, title: $title}) { id } }`,
			map[string]any{"f": folder, "t": tmpl.Templates.Nodes[0].ID, "title": title}, &d)
		return d.CreateDocument.ID
	}
	gone, edited := newDoc("Will be purged"), newDoc("Will be edited")
	do(`mutation($d: ID!) { addComment(documentId: $d, body: "kept in the backup") { id } }`, map[string]any{"d": gone}, nil)

	raw, m := create(t, s.DB.Owner, backup.CreateOptions{})
	a := read(t, raw)

	purge := func(id, mutation string) {
		t.Helper()
		do(mutation, map[string]any{"id": id}, nil)
		if _, err := s.DB.Owner.ExecContext(ctx, "UPDATE documents SET deleted_at = ? WHERE deleted_at IS NOT NULL", time.Now().Add(-90*24*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.DB.Owner.ExecContext(ctx, "UPDATE folders SET deleted_at = ? WHERE deleted_at IS NOT NULL", time.Now().Add(-90*24*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.App.Store.Purge(ctx, s.App.Store.Now().Add(-s.App.Store.TrashRetention())); err != nil {
			t.Fatal(err)
		}
	}
	purge(gone, `mutation($id: ID!) { deleteDocument(id: $id) { id } }`)
	res, err := backup.RestoreObject(ctx, s.App.Store, a, acme, gone)
	if err != nil {
		t.Fatal(err)
	}
	if res.Returned != 1 || res.Comments != 1 {
		t.Fatalf("restore of a purged document: %+v", res)
	}
	var doc struct {
		Document struct {
			Title    string
			Comments struct{ Nodes []struct{ Body string } }
		}
	}
	do(`query($id: ID!) { document(id: $id) { title comments(first: 5) { nodes { body } } } }`, map[string]any{"id": gone}, &doc)
	if doc.Document.Title != "Will be purged" || len(doc.Document.Comments.Nodes) != 1 {
		t.Fatalf("restored document %+v", doc.Document)
	}
	var events struct {
		AuditEvents struct {
			Nodes []struct {
				Fields []struct {
					Field string
					After any
				}
			}
		}
	}
	do(`query($o: ID!) { auditEvents(filter: {object: $o, action: "RESTORE"}) { nodes { fields { field after } } } }`, map[string]any{"o": gone}, &events)
	named := false
	for _, n := range events.AuditEvents.Nodes {
		for _, fc := range n.Fields {
			named = named || (fc.Field == "backup" && fc.After == m.ID)
		}
	}
	if !named {
		t.Fatalf("no RESTORE event naming backup %s: %+v", m.ID, events.AuditEvents.Nodes)
	}

	// Still there, changed since: the backup's state comes back as a new version.
	var v struct{ Document struct{ Version int } }
	do(`query($id: ID!) { document(id: $id) { version } }`, map[string]any{"id": edited}, &v)
	do(`mutation($id: ID!, $v: Int!) { updateDocument(id: $id, input: {expectedVersion: $v, title: "Newer work"}) { id } }`,
		map[string]any{"id": edited, "v": v.Document.Version}, nil)
	if res, err := backup.RestoreObject(ctx, s.App.Store, a, acme, edited); err != nil || res.Versioned != 1 {
		t.Fatalf("restore over an edited document: %+v, %v", res, err)
	}
	var after struct {
		Document struct {
			Title    string
			Version  int
			Versions []struct{ Title string }
		}
	}
	do(`query($id: ID!) { document(id: $id) { title version versions { title } } }`, map[string]any{"id": edited}, &after)
	if after.Document.Title != "Will be edited" || after.Document.Version != v.Document.Version+2 ||
		len(after.Document.Versions) == 0 || after.Document.Versions[0].Title != "Newer work" {
		t.Fatalf("after restoring over newer work: %+v", after.Document)
	}

	// A purged folder comes back with what was below it.
	purge(folder, `mutation($id: ID!) { deleteFolder(id: $id) { id } }`)
	if res, err := backup.RestoreObject(ctx, s.App.Store, a, acme, folder); err != nil || res.Returned != 3 {
		t.Fatalf("restore of a purged folder: %+v, %v", res, err)
	}
	var docs struct {
		Folder struct{ Documents struct{ TotalCount int } }
	}
	do(`query($id: ID!) { folder(id: $id) { documents { totalCount } } }`, map[string]any{"id": folder}, &docs)
	if docs.Folder.Documents.TotalCount != 2 {
		t.Fatalf("restored folder holds %d documents", docs.Folder.Documents.TotalCount)
	}
	if _, err := backup.RestoreObject(ctx, s.App.Store, a, acme, "00000000-0000-0000-0000-000000000001"); !errors.Is(err, backup.ErrNoObject) {
		t.Fatalf("an object not in the backup: %v", err)
	}
	verifyChains(t, s.DB.Owner)
}
