package e2e

import (
	"testing"

	"github.com/laatu/laatu/internal/testserver"
)

// TestRestore deletes a folder (with its documents) and a document, and restores them: a
// deleted object is gone for everyone, restoring is ADMIN only, and restoring a version brings
// back the content as a new version.
func TestRestore(t *testing.T) {
	s := testserver.New(t)
	admin, manager := s.Login(t, "admin@acme.test"), s.Login(t, "manager@acme.test")

	var docs struct {
		Documents struct {
			Nodes []struct {
				ID, Title string
				Version   int
				Folder    struct{ ID string }
			}
		}
	}
	testserver.MustOK(t, s.Do(t, testserver.Request{Query: `{ documents(first: 1, filter: {status: [DRAFT]}) { nodes { id title version folder { id } } } }`, Token: manager}, &docs))
	doc := docs.Documents.Nodes[0]

	// Change the title, then restore version 1's content after deleting the document.
	res := s.Do(t, testserver.Request{Query: `mutation($id: ID!, $v: Int!) { updateDocument(id: $id, input: {expectedVersion: $v, title: "Renamed"}) { version } }`,
		Variables: map[string]any{"id": doc.ID, "v": doc.Version}, Token: manager}, nil)
	testserver.MustOK(t, res)
	testserver.MustOK(t, s.Do(t, testserver.Request{Query: `mutation($id: ID!) { deleteDocument(id: $id) { id } }`,
		Variables: map[string]any{"id": doc.ID}, Token: admin}, nil))
	if codes := s.Do(t, testserver.Request{Query: `query($id: ID!) { document(id: $id) { id } }`,
		Variables: map[string]any{"id": doc.ID}, Token: admin}, nil).Codes(); len(codes) != 1 || codes[0] != "NOT_FOUND" {
		t.Fatalf("deleted document: codes %v, want NOT_FOUND", codes)
	}
	if codes := s.Do(t, testserver.Request{Query: `mutation($id: ID!) { restoreDocument(id: $id) { id } }`,
		Variables: map[string]any{"id": doc.ID}, Token: manager}, nil).Codes(); len(codes) != 1 || codes[0] != "FORBIDDEN" {
		t.Fatalf("restore by a manager: codes %v, want FORBIDDEN", codes)
	}
	var restored struct {
		RestoreDocument struct {
			Title   string
			Version int
		}
	}
	testserver.MustOK(t, s.Do(t, testserver.Request{Query: `mutation($id: ID!, $v: Int) { restoreDocument(id: $id, version: $v) { title version } }`,
		Variables: map[string]any{"id": doc.ID, "v": doc.Version}, Token: admin}, &restored))
	if restored.RestoreDocument.Title != doc.Title || restored.RestoreDocument.Version <= doc.Version+1 {
		t.Fatalf("restored %+v, want title %q at a new version", restored.RestoreDocument, doc.Title)
	}
	var versions struct {
		Document struct{ Versions []struct{ Version int } }
	}
	testserver.MustOK(t, s.Do(t, testserver.Request{Query: `query($id: ID!) { document(id: $id) { versions { version } } }`,
		Variables: map[string]any{"id": doc.ID}, Token: admin}, &versions))
	if len(versions.Document.Versions) < 2 {
		t.Fatalf("versions: %+v, want the states before each change", versions.Document.Versions)
	}

	// A folder comes back with the documents deleted with it.
	count := func() int {
		var c struct{ Documents struct{ TotalCount int } }
		testserver.MustOK(t, s.Do(t, testserver.Request{Query: `query($f: ID!) { documents(filter: {folderId: $f}) { totalCount } }`,
			Variables: map[string]any{"f": doc.Folder.ID}, Token: admin}, &c))
		return c.Documents.TotalCount
	}
	before := count()
	testserver.MustOK(t, s.Do(t, testserver.Request{Query: `mutation($id: ID!) { deleteFolder(id: $id) { id } }`,
		Variables: map[string]any{"id": doc.Folder.ID}, Token: admin}, nil))
	if n := count(); n != 0 {
		t.Fatalf("after deleting the folder %d documents remain visible", n)
	}
	testserver.MustOK(t, s.Do(t, testserver.Request{Query: `mutation($id: ID!) { restoreFolder(id: $id) { id } }`,
		Variables: map[string]any{"id": doc.Folder.ID}, Token: admin}, nil))
	if n := count(); n != before || before == 0 {
		t.Fatalf("after restoring the folder %d documents, want %d", n, before)
	}
}
