package subscribe_test

import (
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/laatu/laatu/internal/testdb"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	documentSub = `subscription($id: ID!) { documentChanged(documentId: $id) { kind documentId document { id title status } } }`
	folderSub   = `subscription($id: ID!) { folderChanged(folderId: $id) { kind folderId objectType objectId folder { id name } document { id title } } }`
	commentSub  = `subscription($id: ID!) { commentAdded(documentId: $id) { id body author { name } } }`
	sharedSub   = `subscription { sharedWithMeChanged { kind objectId grant { level expiresAt } folder { id } document { id title } } }`
)

type documentEvent struct {
	DocumentChanged *struct {
		Kind       string
		DocumentID string
		Document   *struct{ ID, Title, Status string }
	}
}

type folderEvent struct {
	FolderChanged *struct {
		Kind, FolderID, ObjectType, ObjectID string
		Folder                               *struct{ ID, Name string }
		Document                             *struct{ ID, Title string }
	}
}

type sharedEvent struct {
	SharedWithMeChanged *struct {
		Kind     string
		ObjectID *string
		Grant    *struct {
			Level     string
			ExpiresAt *time.Time
		}
		Folder   *struct{ ID string }
		Document *struct{ ID, Title string }
	}
}

// TestDelivery runs the delivery and authorization cases on one server, one after the other:
// each leaves no stream behind, and changes only objects it made or may change.
func TestDelivery(t *testing.T) {
	s := newServer(t, testdb.New(t))
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, s *server)
	}{
		{"documentChanged", documentChanged},
		{"folderChanged", folderChanged},
		{"commentAdded over SSE", commentAddedOverSSE},
		{"sharedWithMeChanged", sharedWithMeChanged},
		{"re-share ends with its source", reshareEndsWithSource},
		{"revoked grant ends the stream (WebSocket)", func(t *testing.T, s *server) { revokedGrant(t, s, false) }},
		{"revoked grant ends the stream (SSE)", func(t *testing.T, s *server) { revokedGrant(t, s, true) }},
		{"cross-company isolation", crossCompany},
		{"idle streams hold no connection", idleStreamsHoldNoConnection},
		{"no goroutine left after clients leave", noGoroutineLeft},
		{"not over plain POST", func(t *testing.T, s *server) {
			acme := s.fixture(t, "admin@acme.test")
			r := s.post(t, s.login(t, "member@acme.test"), documentSub, map[string]any{"id": acme.docs["Harbour Tower"]})
			if got := r.codes(); len(got) != 1 || got[0] != "BAD_USER_INPUT" {
				t.Fatalf("a subscription over POST: %s %+v", r.Data, r.Errors)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.waitNoStreams(t)
			tc.run(t, s)
		})
	}
}

func documentChanged(t *testing.T, s *server) {
	acme := s.fixture(t, "admin@acme.test")
	admin := s.login(t, "admin@acme.test")
	docID := s.createDocument(t, admin, acme.folders["Harbour Tower/Foundations"], acme.template, "Pile test")
	w := s.subscribeAs(t, s.login(t, "member@acme.test"), documentSub, map[string]any{"id": docID})

	s.retitle(t, admin, docID, "Pile test, second round")
	ev := data[documentEvent](t, w.event("1")).DocumentChanged
	if ev.Kind != "UPDATED" || ev.DocumentID != docID || ev.Document == nil || ev.Document.Title != "Pile test, second round" {
		t.Fatalf("after retitle: %+v", ev)
	}

	s.do(t, admin, `mutation($id: ID!) { updateDocument(id: $id, input: {expectedVersion: 2, status: ARCHIVED}) { id } }`,
		map[string]any{"id": docID}, nil)
	ev = data[documentEvent](t, w.event("1")).DocumentChanged
	if ev.Kind != "STATUS_CHANGED" || ev.Document == nil || ev.Document.Status != "ARCHIVED" {
		t.Fatalf("after archiving: %+v", ev)
	}

	// Changes elsewhere are not this subscription's business.
	s.retitle(t, admin, s.createDocument(t, admin, acme.folders["Harbour Tower/Structure"], acme.template, "Elsewhere"), "Elsewhere, again")
	w.silent()

	s.do(t, admin, `mutation($id: ID!) { deleteDocument(id: $id) { id } }`, map[string]any{"id": docID}, nil)
	ev = data[documentEvent](t, w.event("1")).DocumentChanged
	if ev.Kind != "DELETED" || ev.Document != nil {
		t.Fatalf("after delete: %+v", ev)
	}
	w.complete("1")
}

func folderChanged(t *testing.T, s *server) {
	acme := s.fixture(t, "admin@acme.test")
	admin := s.login(t, "admin@acme.test")
	var site struct{ CreateFolder struct{ ID string } }
	s.do(t, admin, `mutation($p: ID!) { createFolder(input: {parentId: $p, name: "Site B"}) { id } }`,
		map[string]any{"p": acme.folders["Harbour Tower"]}, &site)
	var steel struct{ CreateFolder struct{ ID string } }
	s.do(t, admin, `mutation($p: ID!) { createFolder(input: {parentId: $p, name: "Steel"}) { id } }`,
		map[string]any{"p": site.CreateFolder.ID}, &steel)
	top := map[string]any{"id": site.CreateFolder.ID}
	// The guest holds VIEW on "Harbour Tower", which reaches everything below it, restricted
	// or not; the member sees only what is not restricted.
	guest := s.subscribeAs(t, s.login(t, "guest@partner.test"), folderSub, top)
	member := s.subscribeAs(t, s.login(t, "member@acme.test"), folderSub, top)
	s.waitStreams(t, 2)

	docID := s.createDocument(t, admin, steel.CreateFolder.ID, acme.template, "Beam check")
	for _, w := range []*wsClient{guest, member} {
		ev := data[folderEvent](t, w.event("1")).FolderChanged
		if ev.Kind != "CREATED" || ev.ObjectType != "DOCUMENT" || ev.ObjectID != docID || ev.Document == nil || ev.Document.Title != "Beam check" {
			t.Fatalf("after create below: %+v", ev)
		}
	}

	var private struct{ CreateFolder struct{ ID string } }
	s.do(t, admin, `mutation($id: ID!) { createFolder(input: {parentId: $id, name: "Private", restricted: true}) { id } }`,
		top, &private)
	ev := data[folderEvent](t, guest.event("1")).FolderChanged
	if ev.Kind != "CREATED" || ev.ObjectType != "FOLDER" || ev.ObjectID != private.CreateFolder.ID {
		t.Fatalf("guest, after a restricted folder was made: %+v", ev)
	}
	// Outside the folder, nothing for anyone; in the restricted folder, nothing for the member.
	s.createDocument(t, admin, acme.folders["Riverside School"], acme.template, "Not yours")
	member.silent()
	guest.silent()

	s.do(t, admin, `mutation($id: ID!) { updateFolder(id: $id, input: {name: "Structure (steel)"}) { id } }`,
		map[string]any{"id": steel.CreateFolder.ID}, nil)
	for _, w := range []*wsClient{guest, member} {
		ev := data[folderEvent](t, w.event("1")).FolderChanged
		if ev.Kind != "UPDATED" || ev.ObjectType != "FOLDER" || ev.Folder == nil || ev.Folder.Name != "Structure (steel)" {
			t.Fatalf("after renaming a folder below: %+v", ev)
		}
	}

	s.do(t, admin, `mutation($id: ID!) { deleteDocument(id: $id) { id } }`, map[string]any{"id": docID}, nil)
	for _, w := range []*wsClient{guest, member} {
		ev := data[folderEvent](t, w.event("1")).FolderChanged
		if ev.Kind != "DELETED" || ev.ObjectID != docID || ev.Document != nil {
			t.Fatalf("after deleting a document below: %+v", ev)
		}
	}

	s.do(t, admin, `mutation($id: ID!) { deleteFolder(id: $id) { id } }`, top, nil)
	for _, w := range []*wsClient{guest, member} {
		ev := data[folderEvent](t, w.event("1")).FolderChanged
		if ev.Kind != "DELETED" || ev.ObjectID != site.CreateFolder.ID {
			t.Fatalf("after deleting the folder: %+v", ev)
		}
		w.complete("1")
	}
}

func commentAddedOverSSE(t *testing.T, s *server) {
	acme := s.fixture(t, "admin@acme.test")
	docID := acme.docs["Riverside School/Inspections"]
	c := openSSE(t, s.url, s.login(t, "limited@acme.test"), commentSub, map[string]any{"id": docID})
	s.waitStreams(t, 1)

	s.do(t, s.login(t, "admin@acme.test"), `mutation($id: ID!) { addComment(documentId: $id, body: "Railing missing on level 2") { id } }`,
		map[string]any{"id": docID}, nil)
	got := data[struct {
		CommentAdded *struct {
			Body   string
			Author *struct{ Name string }
		}
	}](t, c.event())
	if got.CommentAdded == nil || got.CommentAdded.Body != "Railing missing on level 2" || got.CommentAdded.Author == nil {
		t.Fatalf("comment: %+v", got.CommentAdded)
	}
}

func sharedWithMeChanged(t *testing.T, s *server) {
	acme := s.fixture(t, "admin@acme.test")
	manager := s.login(t, "manager@acme.test")
	w := s.subscribeAs(t, s.login(t, "guest@partner.test"), sharedSub, nil)

	docID := acme.docs["Riverside School"]
	var shared struct{ Share struct{ ID string } }
	s.do(t, manager, `mutation($id: ID!) { share(input: {objectId: $id, email: "guest@partner.test", level: VIEW}) { id } }`,
		map[string]any{"id": docID}, &shared)
	ev := data[sharedEvent](t, w.event("1")).SharedWithMeChanged
	if ev.Kind != "SHARED" || ev.ObjectID == nil || *ev.ObjectID != docID || ev.Grant == nil || ev.Grant.Level != "VIEW" || ev.Document == nil {
		t.Fatalf("after share: %+v", ev)
	}

	s.do(t, manager, `mutation($id: ID!) { unshare(grantId: $id) }`, map[string]any{"id": shared.Share.ID}, nil)
	ev = data[sharedEvent](t, w.event("1")).SharedWithMeChanged
	if ev.Kind != "UNSHARED" || ev.Grant != nil || ev.Document != nil {
		t.Fatalf("after unshare: %+v", ev)
	}

	expires := time.Now().Add(time.Second).UTC().Format(time.RFC3339Nano)
	s.do(t, manager, `mutation($id: ID!, $at: Time!) { share(input: {objectId: $id, email: "guest@partner.test", level: EDIT, expiresAt: $at}) { id } }`,
		map[string]any{"id": docID, "at": expires}, nil)
	ev = data[sharedEvent](t, w.event("1")).SharedWithMeChanged
	if ev.Kind != "SHARED" || ev.Grant == nil || ev.Grant.ExpiresAt == nil {
		t.Fatalf("after share with expiry: %+v", ev)
	}
	ev = data[sharedEvent](t, w.event("1")).SharedWithMeChanged
	if ev.Kind != "EXPIRED" || *ev.ObjectID != docID || ev.Document != nil {
		t.Fatalf("at expiry: %+v", ev)
	}
}

// A grant re-shared by a guest ends when the guest's own grant is revoked, and its grantee's
// sharedWithMe stream says so as for a direct revocation.
func reshareEndsWithSource(t *testing.T, s *server) {
	acme := s.fixture(t, "admin@acme.test")
	manager, guest := s.login(t, "manager@acme.test"), s.login(t, "guest@partner.test")
	docID := acme.docs["Riverside School"]
	var source struct{ Share struct{ ID string } }
	s.do(t, manager, `mutation($id: ID!) { share(input: {objectId: $id, email: "guest@partner.test", level: MANAGE}) { id } }`,
		map[string]any{"id": docID}, &source)
	w := s.subscribeAs(t, s.login(t, "member@beta.test"), sharedSub, nil)
	s.do(t, guest, `mutation($id: ID!) { share(input: {objectId: $id, email: "member@beta.test", level: VIEW}) { id } }`,
		map[string]any{"id": docID}, nil)
	ev := data[sharedEvent](t, w.event("1")).SharedWithMeChanged
	if ev.Kind != "SHARED" || ev.ObjectID == nil || *ev.ObjectID != docID {
		t.Fatalf("after the re-share: %+v", ev)
	}
	s.do(t, manager, `mutation($id: ID!) { unshare(grantId: $id) }`, map[string]any{"id": source.Share.ID}, nil)
	ev = data[sharedEvent](t, w.event("1")).SharedWithMeChanged
	if ev.Kind != "UNSHARED" || ev.ObjectID == nil || *ev.ObjectID != docID || ev.Grant != nil || ev.Document != nil {
		t.Fatalf("after its source was revoked: %+v", ev)
	}
}
