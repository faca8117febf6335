package e2e

import (
	"testing"

	"github.com/laatu/laatu/internal/access"
	"github.com/laatu/laatu/internal/testserver"
)

// TestAuthzSharing walks the sharing rule: owners, ADMINs and MANAGERs share; a holder of MANAGE
// re-shares up to its own right and adds to the folder; EDIT and VIEW do not share; a right on a
// document does not reach its folder; a grantee may drop its own grant; and taking a grant
// back counts from the next request.
func TestAuthzSharing(t *testing.T) {
	w := aNewWorld(t)
	ht := w.folders["Acme Construction/Harbour Tower"]
	rs := w.folders["Acme Construction/Riverside School"]

	share := func(who aWho, token, object, email, level string) *testserver.Response {
		r := w.request(who, `mutation($in: ShareInput!) { share(input: $in) { id } }`,
			map[string]any{"in": map[string]any{"objectId": object, "email": email, "level": level}})
		if token != "" {
			r.Token = token
		}
		return w.s.Do(t, r, nil)
	}
	expect := func(res *testserver.Response, field, want, what string) {
		t.Helper()
		if got := aOutcome(res, field); got != want {
			t.Errorf("%s: %s, want %s\n\t%s", what, got, want, aShape(res))
		}
	}

	// A MEMBER shares what it owns, and nothing else it can only view or edit.
	w.grant(t, aAdmin, rs, w.users["member@acme.test"], access.Edit)
	var created struct{ CreateDocument struct{ ID string } }
	w.mustOK(t, aMember, `mutation($in: CreateDocumentInput!) { createDocument(input: $in) { id } }`,
		map[string]any{"in": map[string]any{"folderId": rs, "templateId": w.templates["Acme Construction/Site inspection"], "title": "Mine"}}, &created)
	own := created.CreateDocument.ID
	expect(share(aMember, "", own, "friend@partner.test", "MANAGE"), "share", aData, "a MEMBER sharing its own document")
	expect(share(aMember, "", w.rsDoc, "friend@partner.test", "VIEW"), "share", aForb, "a MEMBER sharing a document it may edit")
	expect(share(aMember, "", ht, "friend@partner.test", "VIEW"), "share", aForb, "a MEMBER sharing a folder it may view")

	// A guest with MANAGE on a folder re-shares it at every level up to MANAGE and adds to it.
	manager := w.guest(t, aManager, ht, "manage@partner.test", "MANAGE", nil)
	for _, level := range []string{"VIEW", "EDIT", "MANAGE"} {
		expect(share(aGView, manager, ht, "third@partner.test", level), "share", aData, "MANAGE re-sharing at "+level)
	}
	var doc struct{ CreateDocument struct{ ID string } }
	res := w.s.Do(t, testserver.Request{Query: `mutation($in: CreateDocumentInput!) { createDocument(input: $in) { id } }`, Token: manager,
		Variables: map[string]any{"in": map[string]any{"folderId": ht, "templateId": w.templates["Acme Construction/Site inspection"], "title": "By a guest"}}}, &doc)
	expect(res, "createDocument", aData, "a guest with MANAGE adding a document")
	expect(share(aGView, "", ht, "third@partner.test", "VIEW"), "share", aForb, "a guest with VIEW sharing")
	expect(share(aGEdit, "", w.rsDoc, "third@partner.test", "VIEW"), "share", aForb, "a guest with EDIT sharing")

	// MANAGE on a document reaches neither its folder nor its siblings.
	docManager := w.guest(t, aAdmin, w.rsDoc, "docmanager@partner.test", "MANAGE", nil)
	expect(share(aGView, docManager, w.rsDoc, "fourth@partner.test", "EDIT"), "share", aData, "MANAGE on a document re-sharing it")
	expect(share(aGView, docManager, rs, "fourth@partner.test", "VIEW"), "share", aNF, "MANAGE on a document sharing its folder")

	// A grantee drops its own grant; a revoked grant stops counting at the next request.
	var mine struct{ SharedWithMe []struct{ ID string } }
	testserver.MustOK(t, w.s.Do(t, testserver.Request{Query: `{ sharedWithMe { id } }`, Token: docManager}, &mine))
	if len(mine.SharedWithMe) != 1 {
		t.Fatalf("sharedWithMe of the document's manager: %+v", mine.SharedWithMe)
	}
	read := func(token, id string) string {
		return aOutcome(w.s.Do(t, testserver.Request{Query: `query($id: ID!) { document(id: $id) { id } }`, Token: token,
			Variables: map[string]any{"id": id}}, nil), "document")
	}
	if got := read(docManager, w.rsDoc); got != aData {
		t.Fatalf("the grantee reads its document: %s", got)
	}
	testserver.MustOK(t, w.s.Do(t, testserver.Request{Query: `mutation($id: ID!) { unshare(grantId: $id) }`, Token: docManager,
		Variables: map[string]any{"id": mine.SharedWithMe[0].ID}}, nil))
	if got := read(docManager, w.rsDoc); got != aNF {
		t.Errorf("after dropping its grant the guest reads the document: %s", got)
	}
}
