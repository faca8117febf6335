package e2e

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/laatu/laatu/internal/audit"
	"github.com/laatu/laatu/internal/config"
	"github.com/laatu/laatu/internal/testserver"
)

type trashPage struct {
	Trash struct {
		Nodes []struct {
			ID, ObjectType, Name string
			Owner                *struct{ ID string }
			DeletedAt            time.Time
			PurgeAfter           time.Time
		}
		PageInfo struct {
			HasNextPage bool
			EndCursor   *string
		}
	}
}

const trashQuery = `query($first: Int, $after: String) { trash(first: $first, after: $after) {
	nodes { id objectType name owner { id } deletedAt purgeAfter } pageInfo { hasNextPage endCursor } } }`

func trashIDs(t *testing.T, s *testserver.Server, token string) []string {
	t.Helper()
	var p trashPage
	fOK(t, s, token, trashQuery, nil, &p)
	var ids []string
	for _, n := range p.Trash.Nodes {
		ids = append(ids, n.ID)
	}
	return ids
}

// TestTrash deletes a folder with a document and its comment, and a document on its own: the
// trash lists the deletion roots (ADMINs all of them, owners their own), undelete brings each
// back as it was with its subtree and comments, and is recorded as RESTORE.
func TestTrash(t *testing.T) {
	s := testserver.New(t)
	acme := fLogins(t, s)
	tmpl := fTemplates(t, s, acme.Admin)
	var template string
	for _, id := range tmpl {
		template = id
		break
	}
	folder := fCreateFolder(t, s, acme.Manager, "", "Trash test")
	sub := fCreateFolder(t, s, acme.Manager, folder, "Below")
	doc := fCreateDocument(t, s, acme.Manager, sub, template, "Inside", nil)
	fAddComment(t, s, acme.Member, doc, "a comment that must come back")
	lone := fCreateDocument(t, s, acme.Manager, folder, template, "On its own", nil)

	// The document alone first, then the folder: two roots, the newest first.
	fOK(t, s, acme.Manager, `mutation($id: ID!) { deleteDocument(id: $id) { id } }`, map[string]any{"id": lone}, nil)
	fOK(t, s, acme.Manager, `mutation($id: ID!) { deleteFolder(id: $id) { id } }`, map[string]any{"id": folder}, nil)

	var p trashPage
	fOK(t, s, acme.Admin, trashQuery, nil, &p)
	var roots []string
	for _, n := range p.Trash.Nodes {
		if n.ID == folder || n.ID == lone || n.ID == sub || n.ID == doc {
			roots = append(roots, n.ObjectType+":"+n.Name)
			if want := n.DeletedAt.Add(30 * 24 * time.Hour); !n.PurgeAfter.Equal(want) {
				t.Errorf("%s purgeAfter %v, want %v", n.Name, n.PurgeAfter, want)
			}
		}
	}
	if !slices.Equal(roots, []string{"FOLDER:Trash test", "DOCUMENT:On its own"}) {
		t.Fatalf("admin's trash roots %v, want the folder then the lone document", roots)
	}
	// Paging: one at a time, the same order.
	var first, second trashPage
	fOK(t, s, acme.Admin, trashQuery, map[string]any{"first": 1}, &first)
	if len(first.Trash.Nodes) != 1 || !first.Trash.PageInfo.HasNextPage {
		t.Fatalf("first page %+v", first.Trash)
	}
	fOK(t, s, acme.Admin, trashQuery, map[string]any{"first": 1, "after": *first.Trash.PageInfo.EndCursor}, &second)
	if len(second.Trash.Nodes) != 1 || second.Trash.Nodes[0].ID == first.Trash.Nodes[0].ID {
		t.Fatalf("second page %+v after %+v", second.Trash, first.Trash)
	}

	// The owner sees its own; another member sees none of it and cannot undelete it.
	if ids := trashIDs(t, s, acme.Manager); !slices.Contains(ids, folder) || !slices.Contains(ids, lone) {
		t.Fatalf("owner's trash %v lacks its objects", ids)
	}
	if ids := trashIDs(t, s, acme.Member); slices.Contains(ids, folder) || slices.Contains(ids, lone) {
		t.Fatalf("member's trash %v shows someone else's objects", ids)
	}
	undelete := `mutation($id: ID!) { undelete(id: $id) { id ... on Folder { name } ... on Document { title } } }`
	fFail(t, s, acme.Member, undelete, map[string]any{"id": folder}, "NOT_FOUND")
	beta := s.Login(t, "admin@beta.test")
	fFail(t, s, beta, undelete, map[string]any{"id": folder}, "NOT_FOUND")
	fFail(t, s, beta, undelete, map[string]any{"id": "00000000-0000-0000-0000-000000000000"}, "NOT_FOUND")
	// A document deleted with its folder comes back with the folder, not into a deleted one.
	fFail(t, s, acme.Admin, undelete, map[string]any{"id": doc}, "NOT_FOUND")

	// The owner undeletes the folder: the subtree and the comment are back.
	var u struct{ Undelete struct{ ID, Name string } }
	fOK(t, s, acme.Manager, undelete, map[string]any{"id": folder}, &u)
	if u.Undelete.ID != folder || u.Undelete.Name != "Trash test" {
		t.Fatalf("undelete returned %+v", u.Undelete)
	}
	var back struct {
		Document struct {
			Title    string
			Folder   struct{ ID string }
			Comments struct{ Nodes []struct{ Body string } }
		}
	}
	fOK(t, s, acme.Member, `query($id: ID!) { document(id: $id) { title folder { id } comments(first: 10) { nodes { body } } } }`,
		map[string]any{"id": doc}, &back)
	if back.Document.Folder.ID != sub || len(back.Document.Comments.Nodes) != 1 || back.Document.Comments.Nodes[0].Body != "a comment that must come back" {
		t.Fatalf("document after undelete: %+v", back.Document)
	}
	// The lone document was deleted earlier, on its own: it stays in the trash until undeleted.
	if ids := trashIDs(t, s, acme.Admin); slices.Contains(ids, folder) || !slices.Contains(ids, lone) {
		t.Fatalf("trash after undeleting the folder: %v", ids)
	}
	fOK(t, s, acme.Admin, undelete, map[string]any{"id": lone}, nil)
	fFail(t, s, acme.Admin, undelete, map[string]any{"id": lone}, "NOT_FOUND")

	var events struct {
		AuditEvents struct {
			Nodes []struct {
				Action string
				Fields []struct {
					Field  string
					Before any
				}
			}
		}
	}
	fOK(t, s, acme.Admin, `query($o: ID!) { auditEvents(filter: {object: $o, action: "RESTORE"}) { nodes { action fields { field before } } } }`,
		map[string]any{"o": folder}, &events)
	if len(events.AuditEvents.Nodes) != 1 || len(events.AuditEvents.Nodes[0].Fields) != 1 ||
		events.AuditEvents.Nodes[0].Fields[0].Field != "deletedAt" || events.AuditEvents.Nodes[0].Fields[0].Before == nil {
		t.Fatalf("RESTORE events of the folder: %+v", events.AuditEvents.Nodes)
	}
}

// TestTrashRetentionAndPurge: past the retention an object leaves the trash and cannot be
// undeleted; the purge removes its rows (comments and grants too) for good, records PURGE, and
// leaves the audit chains verifiable.
func TestTrashRetentionAndPurge(t *testing.T) {
	s := testserver.New(t, func(c *config.Config) { c.TrashRetention = 48 * time.Hour })
	acme := fLogins(t, s)
	var template string
	for _, id := range fTemplates(t, s, acme.Admin) {
		template = id
	}
	folder := fCreateFolder(t, s, acme.Admin, "", "Old stuff")
	doc := fCreateDocument(t, s, acme.Admin, folder, template, "Old report", nil)
	fAddComment(t, s, acme.Admin, doc, "old comment")
	keep := fCreateDocument(t, s, acme.Admin, folder, template, "Recent", nil)
	fOK(t, s, acme.Admin, `mutation($id: ID!) { deleteDocument(id: $id) { id } }`, map[string]any{"id": keep}, nil)
	fOK(t, s, acme.Admin, `mutation($id: ID!) { deleteFolder(id: $id) { id } }`, map[string]any{"id": folder}, nil)
	// The folder and the document inside it were deleted three days ago; the other document
	// an hour ago, before the folder, so it is a root of its own.
	old := s.App.Store.Now().Add(-72 * time.Hour)
	aExec(t, s, "UPDATE folders SET deleted_at = ? WHERE id = ?", old, folder)
	aExec(t, s, "UPDATE documents SET deleted_at = ? WHERE id = ?", old, doc)
	aExec(t, s, "UPDATE documents SET deleted_at = ? WHERE id = ?", s.App.Store.Now().Add(-time.Hour), keep)

	if ids := trashIDs(t, s, acme.Admin); slices.Contains(ids, folder) || !slices.Contains(ids, keep) {
		t.Fatalf("trash %v: want the recent document and not the expired folder", ids)
	}
	fFail(t, s, acme.Admin, `mutation($id: ID!) { undelete(id: $id) { id } }`, map[string]any{"id": folder}, "NOT_FOUND")

	res, err := s.App.Store.Purge(context.Background(), s.App.Store.Now().Add(-s.App.Store.TrashRetention()))
	if err != nil {
		t.Fatal(err)
	}
	if res.Folders != 1 || res.Documents != 2 {
		// The recent document lives in the expired folder: it goes with it.
		t.Fatalf("purge result %+v, want the folder and both documents below it", res)
	}
	var n []int
	aSQL(t, s, &n, "SELECT count(*) FROM folders WHERE id = ?", folder)
	var nd []int
	aSQL(t, s, &nd, "SELECT count(*) FROM documents WHERE id IN (?, ?)", doc, keep)
	var nc []int
	aSQL(t, s, &nc, "SELECT count(*) FROM comments WHERE document_id = ?", doc)
	if n[0] != 0 || nd[0] != 0 || nc[0] != 0 {
		t.Fatalf("after purge: %d folders, %d documents, %d comments remain", n[0], nd[0], nc[0])
	}
	var purged []string
	aSQL(t, s, &purged, "SELECT object_id FROM audit_events WHERE action = 'PURGE'")
	for _, id := range []string{folder, doc, keep} {
		if !slices.Contains(purged, id) {
			t.Errorf("no PURGE event for %s (have %v)", id, purged)
		}
	}
	reports, err := audit.VerifyAll(context.Background(), s.DB.Owner)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range reports {
		if !r.OK() {
			t.Errorf("chain after purge: %s", r)
		}
	}
	// A second purge has nothing left to do.
	if res, err := s.App.Store.Purge(context.Background(), s.App.Store.Now().Add(-s.App.Store.TrashRetention())); err != nil || res.Folders+res.Documents != 0 {
		t.Fatalf("second purge: %+v, %v", res, err)
	}
}

// TestFolderVersions: every change of a folder keeps the state before it, and restoreFolder
// with a version brings that state back as a new version, audited with before and after.
func TestFolderVersions(t *testing.T) {
	s := testserver.New(t)
	acme := fLogins(t, s)
	folder := fCreateFolder(t, s, acme.Manager, "", "First name")
	rename := `mutation($id: ID!, $n: String!) { updateFolder(id: $id, input: {name: $n}) { version } }`
	fOK(t, s, acme.Manager, rename, map[string]any{"id": folder, "n": "Second name"}, nil)
	var upd struct{ UpdateFolder struct{ Version int } }
	fOK(t, s, acme.Manager, rename, map[string]any{"id": folder, "n": "Third name"}, &upd)
	if upd.UpdateFolder.Version != 3 {
		t.Fatalf("version after two renames: %d, want 3", upd.UpdateFolder.Version)
	}
	var vs struct {
		Folder struct {
			Versions []struct {
				Version int
				Name    string
				Actor   *struct{ ID string }
			}
		}
	}
	fOK(t, s, acme.Manager, `query($id: ID!) { folder(id: $id) { versions { version name actor { id } } } }`, map[string]any{"id": folder}, &vs)
	if got := vs.Folder.Versions; len(got) != 2 || got[0].Version != 2 || got[0].Name != "Second name" || got[1].Name != "First name" || got[1].Actor == nil {
		t.Fatalf("versions %+v", got)
	}
	// A member may view the folder but not manage it: no versions.
	fFail(t, s, acme.Member, `query($id: ID!) { folder(id: $id) { versions { version } } }`, map[string]any{"id": folder}, "FORBIDDEN")
	restore := `mutation($id: ID!, $v: Int) { restoreFolder(id: $id, version: $v) { name version } }`
	fFail(t, s, acme.Manager, restore, map[string]any{"id": folder, "v": 1}, "FORBIDDEN")
	fFail(t, s, acme.Admin, restore, map[string]any{"id": folder, "v": 99}, "NOT_FOUND")
	var r struct {
		RestoreFolder struct {
			Name    string
			Version int
		}
	}
	fOK(t, s, acme.Admin, restore, map[string]any{"id": folder, "v": 1}, &r)
	if r.RestoreFolder.Name != "First name" || r.RestoreFolder.Version != 4 {
		t.Fatalf("restored %+v, want the first name as version 4", r.RestoreFolder)
	}
	var events struct {
		AuditEvents struct {
			Nodes []struct {
				Fields []struct {
					Field         string
					Before, After any
				}
			}
		}
	}
	fOK(t, s, acme.Admin, `query($o: ID!) { auditEvents(filter: {object: $o, action: "RESTORE"}) { nodes { fields { field before after } } } }`,
		map[string]any{"o": folder}, &events)
	if n := events.AuditEvents.Nodes; len(n) != 1 || len(n[0].Fields) != 1 || n[0].Fields[0].Before != "Third name" || n[0].Fields[0].After != "First name" {
		t.Fatalf("RESTORE event %+v", n)
	}
}
