package e2e

import (
	"slices"
	"testing"

	"github.com/laatu/laatu/internal/testserver"
)

// TestAuditGuestGrant: a guest's views and changes name the grant that admitted it — the grant
// on a document shared by itself, the grant on the folder above one shared through its folder
// — in the ADMIN's audit log, for queries, mutations and subscription deliveries alike; the
// events of members name none.
func TestAuditGuestGrant(t *testing.T) {
	t.Parallel()
	s := testserver.New(t)
	admin, manager, member := s.Login(t, "admin@acme.test"), s.Login(t, "manager@acme.test"), s.Login(t, "member@acme.test")
	memberID, managerID := aeViewer(t, s, member), aeViewer(t, s, manager)
	folders := fFolders(t, s, admin)
	tower, foundations, school := folders["Harbour Tower"], folders["Harbour Tower/Foundations"], folders["Riverside School"]
	inspection := fTemplates(t, s, admin)["Site inspection"]
	if tower == "" || foundations == "" || school == "" || inspection == "" {
		t.Fatalf("demo data missing: folders %v, template %q", folders, inspection)
	}
	byItself := fCreateDocument(t, s, admin, school, inspection, "Shared by itself", nil)
	throughFolder := fCreateDocument(t, s, admin, foundations, inspection, "Shared through its folder", nil)

	// The guest registers through the first share's invitation; the second finds it.
	const email = "auditee@partner.test"
	share := func(object string) string {
		t.Helper()
		var data struct{ Share struct{ ID string } }
		fOK(t, s, admin, `mutation($in: ShareInput!) { share(input: $in) { id } }`,
			map[string]any{"in": map[string]any{"objectId": object, "email": email, "level": "EDIT"}}, &data)
		return data.Share.ID
	}
	docGrant := share(byItself)
	var accepted struct{ AcceptInvitation struct{ Token string } }
	testserver.MustOK(t, s.Do(t, testserver.Request{Query: `mutation($t: String!, $p: String!) { acceptInvitation(token: $t, password: $p) { token } }`,
		Variables: map[string]any{"t": aMailToken(t, s, email), "p": aPassword}}, &accepted))
	guest := accepted.AcceptInvitation.Token
	guestID := aeViewer(t, s, guest)
	folderGrant := share(tower)

	// The guest reads both documents, and the template of one, then changes both.
	var read struct {
		A struct {
			Version  int
			Template struct{ ID string }
		}
		B struct{ Version int }
	}
	fOK(t, s, guest, `query Read($a: ID!, $b: ID!) { a: document(id: $a) { title version template { id name } } b: document(id: $b) { title version } }`,
		map[string]any{"a": byItself, "b": throughFolder}, &read)
	const update = `mutation($id: ID!, $in: UpdateDocumentInput!) { updateDocument(id: $id, input: $in) { version } }`
	fOK(t, s, guest, update, map[string]any{"id": byItself, "in": map[string]any{"expectedVersion": read.A.Version, "title": "Edited by the guest"}}, nil)
	fOK(t, s, guest, update, map[string]any{"id": throughFolder, "in": map[string]any{"expectedVersion": read.B.Version, "title": "Edited by the guest"}}, nil)
	fAddComment(t, s, guest, throughFolder, "seen on site")

	// Members read and change the same document: their events name no grant.
	var cur struct{ Document struct{ Version int } }
	fOK(t, s, member, `query($id: ID!) { document(id: $id) { title } }`, map[string]any{"id": byItself}, nil)
	fOK(t, s, manager, `query($id: ID!) { document(id: $id) { version } }`, map[string]any{"id": byItself}, &cur)
	fOK(t, s, manager, update, map[string]any{"id": byItself, "in": map[string]any{"expectedVersion": cur.Document.Version, "title": "Edited by the manager"}}, nil)

	// grants returns, for each action, the grants that the actor's events about object name.
	grants := func(actor, object string) map[string][]string {
		t.Helper()
		out := map[string][]string{}
		for _, e := range aeEvents(t, s, admin, map[string]any{"actor": actor, "object": object}) {
			want := "MEMBER"
			if actor == guestID {
				want = "GUEST"
			}
			if e.PrincipalKind != want {
				t.Errorf("%s %s of %s recorded as %s, want %s", e.Action, e.ObjectType, actor, e.PrincipalKind, want)
			}
			out[e.Action] = append(out[e.Action], e.GrantID)
		}
		return out
	}
	only := func(what string, got []string, want string) {
		t.Helper()
		if len(got) == 0 {
			t.Errorf("%s: no event", what)
		}
		for _, g := range got {
			if g != want {
				t.Errorf("%s: grants %q, want %q in each", what, got, want)
				return
			}
		}
	}
	guestOnItself, guestThroughFolder := grants(guestID, byItself), grants(guestID, throughFolder)
	only("the guest's views of the document shared by itself", guestOnItself["VIEW"], docGrant)
	only("the guest's update of the document shared by itself", guestOnItself["UPDATE"], docGrant)
	only("the guest's views of the document shared through its folder", guestThroughFolder["VIEW"], folderGrant)
	only("the guest's update of the document shared through its folder", guestThroughFolder["UPDATE"], folderGrant)
	// The template is seen through both documents, both shared with EDIT: the grant on the
	// document itself is the more specific.
	only("the guest's view of the template", grants(guestID, read.A.Template.ID)["VIEW"], docGrant)
	var comments []string
	for _, e := range aeEvents(t, s, admin, map[string]any{"actor": guestID, "action": "CREATE"}) {
		if e.ObjectType == "COMMENT" {
			comments = append(comments, e.GrantID)
		}
	}
	only("the guest's comment", comments, folderGrant)
	only("the member's view", grants(memberID, byItself)["VIEW"], "")
	only("the manager's update", grants(managerID, byItself)["UPDATE"], "")

	// A subscription's delivery to the guest names the grant too.
	aeDeliveredChange(t, s, guest, manager, throughFolder)
	// The delivery's view is durable before it is sent.
	var sub []string
	for _, e := range aeEvents(t, s, admin, map[string]any{"actor": guestID, "action": "VIEW", "object": throughFolder}) {
		if e.OperationType == "subscription" && slices.Equal(e.RootFields, []string{"documentChanged"}) {
			sub = append(sub, e.GrantID)
		}
	}
	only("the delivery to the guest", sub, folderGrant)
}
