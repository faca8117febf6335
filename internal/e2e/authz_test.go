package e2e

// The authorization matrix: every root field of the schema × the principals of aEveryone ×
// objects in company A (Acme) and company B (Beta) → the exact outcome a client sees.
//
// Objects are described by the rights each principal holds on them (the spec of access.Can,
// written out by hand from DESIGN.md), and each operation by the right it needs; the expected
// outcome of a cell follows from the two by the rule of uniform denial: an object the caller
// may not view does not exist for it (NOT_FOUND, exactly like a random id), one it may view but
// not change is FORBIDDEN, and no session at all is UNAUTHENTICATED.

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/laatu/laatu/graph"
	"github.com/laatu/laatu/internal/access"
	"github.com/laatu/laatu/internal/database"
	"github.com/laatu/laatu/internal/storage"
	"github.com/laatu/laatu/internal/testdb"
	"github.com/laatu/laatu/internal/testserver"
)

// Outcomes of a cell.
const (
	aData   = "DATA"
	aNF     = "NOT_FOUND"
	aForb   = "FORBIDDEN"
	aUnauth = "UNAUTHENTICATED"
	aBad    = "BAD_USER_INPUT"
	aConfl  = "CONFLICT"
)

// aObject is a folder or document of the matrix, made fresh by make whenever a cell would
// destroy it, so that cells do not depend on each other.
type aObject struct {
	name   string
	folder bool
	// company is "acme", "beta", or "" for an id that names nothing.
	company string
	// rights is what each principal may do with the object; a missing principal has NONE.
	rights map[aWho]access.Right
	make   func(t testing.TB, w *aWorld) string
	// id is the instance shared by the cells that do not destroy it.
	id string
}

func aObjects() []*aObject {
	const M, E, V = access.Manage, access.Edit, access.View
	folderIn := func(who aWho, parent string) func(testing.TB, *aWorld) string {
		return func(t testing.TB, w *aWorld) string { return w.folder(t, who, w.folders[parent], "Matrix folder") }
	}
	docIn := func(who aWho, folder string, grantee aWho) func(testing.TB, *aWorld) string {
		return func(t testing.TB, w *aWorld) string {
			id := w.document(t, who, w.folders[folder], "Matrix document")
			if grantee != "" {
				w.grant(t, who, id, w.users[aEmail[grantee]], access.Edit)
			}
			return id
		}
	}
	random := func(testing.TB, *aWorld) string { return uuid.NewString() }
	return []*aObject{
		{name: "A folder below Harbour Tower", folder: true, company: "acme",
			rights: map[aWho]access.Right{aAdmin: M, aManager: M, aMember: V, aGView: V},
			make:   folderIn(aManager, "Acme Construction/Harbour Tower")},
		{name: "A folder below Inspections", folder: true, company: "acme",
			rights: map[aWho]access.Right{aAdmin: M, aManager: M, aMember: V, aLimited: E},
			make:   folderIn(aManager, "Acme Construction/Riverside School/Inspections")},
		{name: "A restricted folder", folder: true, company: "acme",
			rights: map[aWho]access.Right{aAdmin: M},
			make:   folderIn(aAdmin, "Acme Construction/HR & Safety")},
		{name: "B folder", folder: true, company: "beta",
			rights: map[aWho]access.Right{aBAdmin: M},
			make:   folderIn(aBAdmin, "Beta Builders/Hillside Homes")},
		{name: "random folder id", folder: true, make: random},
		{name: "A document below Harbour Tower", company: "acme",
			rights: map[aWho]access.Right{aAdmin: M, aManager: M, aMember: V, aGView: V},
			make:   docIn(aManager, "Acme Construction/Harbour Tower/Foundations", "")},
		{name: "A document of the admin, EDIT granted", company: "acme",
			rights: map[aWho]access.Right{aAdmin: M, aManager: E, aMember: V, aGEdit: E},
			make:   docIn(aAdmin, "Acme Construction/Riverside School", aGEdit)},
		{name: "A document in Inspections", company: "acme",
			rights: map[aWho]access.Right{aAdmin: M, aManager: M, aMember: V, aLimited: E},
			make:   docIn(aManager, "Acme Construction/Riverside School/Inspections", "")},
		{name: "A restricted document", company: "acme",
			rights: map[aWho]access.Right{aAdmin: M},
			make:   docIn(aAdmin, "Acme Construction/HR & Safety", "")},
		{name: "B document, EDIT granted", company: "beta",
			rights: map[aWho]access.Right{aBAdmin: M, aGView: E},
			make:   docIn(aBAdmin, "Beta Builders/Hillside Homes", aGView)},
		{name: "random document id", make: random},
	}
}

// aActive is the company each principal acts in ("" for guests and the foreign header).
var aActive = map[aWho]string{aAdmin: "acme", aManager: "acme", aMember: "acme", aLimited: "acme", aBAdmin: "beta"}

// aLevel is each principal's level in its active company.
var aLevel = map[aWho]access.Level{aAdmin: access.Admin, aManager: access.Manager, aMember: access.Member,
	aLimited: access.Limited, aBAdmin: access.Admin}

// The rules that turn a right into the outcome of an operation.
type aRule func(who aWho, o *aObject) string

// aNeeds is an operation that needs a right on the object: NOT_FOUND below VIEW.
func aNeeds(need access.Right) aRule {
	return func(who aWho, o *aObject) string {
		switch r := o.rights[who]; {
		case !r.AtLeast(access.View):
			return aNF
		case !r.AtLeast(need):
			return aForb
		}
		return aData
	}
}

// aAdds is adding to a folder: members of its company need EDIT, guests MANAGE.
func aAdds(who aWho, o *aObject) string {
	if aActive[who] == o.company {
		return aNeeds(access.Edit)(who, o)
	}
	return aNeeds(access.Manage)(who, o)
}

// aShares is sharing: MANAGE, or EDIT for a MANAGER or ADMIN of the object's company.
func aShares(who aWho, o *aObject) string {
	r := o.rights[who]
	switch {
	case !r.AtLeast(access.View):
		return aNF
	case r.AtLeast(access.Manage), r.AtLeast(access.Edit) && aActive[who] == o.company && aLevel[who].AtLeast(access.Manager):
		return aData
	}
	return aForb
}

// aUnshares is taking back someone else's grant: only members of the object's company see
// its grants at all; then the rule of sharing applies.
func aUnshares(who aWho, o *aObject) string {
	if aActive[who] != o.company {
		return aNF
	}
	return aShares(who, o)
}

// aObjectOp is an operation on a folder or document.
type aObjectOp struct {
	field, name string
	folders     bool // runs on the folders
	documents   bool // runs on the documents
	query       string
	vars        func(t testing.TB, w *aWorld, o *aObject, id string) map[string]any
	rule        aRule
	// destroys makes the cell act on a fresh copy of the object.
	destroys bool
	check    func(t testing.TB, res *testserver.Response)
}

func aID(_ testing.TB, _ *aWorld, _ *aObject, id string) map[string]any {
	return map[string]any{"id": id}
}

// aParentKept checks that a nested denial left its parent in place, with a null field.
func aParentKept(parent string) func(testing.TB, *testserver.Response) {
	return func(t testing.TB, res *testserver.Response) {
		t.Helper()
		if len(res.Errors) == 1 && res.Errors[0].Code() == aForb && !strings.Contains(string(res.Data), `"id":`) {
			t.Errorf("a denied %s.grants took its parent with it: %s", parent, res.Data)
		}
	}
}

func aObjectOps() []aObjectOp {
	return []aObjectOp{
		{field: "document", documents: true, query: `query($id: ID!) { document(id: $id) { id title } }`, vars: aID, rule: aNeeds(access.View)},
		{field: "folder", folders: true, query: `query($id: ID!) { folder(id: $id) { id name } }`, vars: aID, rule: aNeeds(access.View)},
		{field: "node", folders: true, documents: true, query: `query($id: ID!) { node(id: $id) { id } }`, vars: aID, rule: aNeeds(access.View)},
		{field: "grants", folders: true, documents: true, query: `query($id: ID!) { grants(objectId: $id) { id level } }`, vars: aID, rule: aNeeds(access.Manage)},
		{field: "auditTrail", folders: true, documents: true, query: `query($id: ID!) { auditTrail(objectId: $id, first: 1) { totalCount } }`,
			vars: aID, rule: aNeeds(access.Manage)},
		{field: "folder", name: "Folder.grants", folders: true, query: `query($id: ID!) { folder(id: $id) { id grants { id } } }`,
			vars: aID, rule: aNeeds(access.Manage), check: aParentKept("Folder")},
		{field: "document", name: "Document.grants", documents: true, query: `query($id: ID!) { document(id: $id) { id grants { id } } }`,
			vars: aID, rule: aNeeds(access.Manage), check: aParentKept("Document")},
		{field: "updateFolder", folders: true, query: `mutation($id: ID!) { updateFolder(id: $id, input: {description: "seen by the matrix"}) { id } }`,
			vars: aID, rule: aNeeds(access.Edit)},
		{field: "deleteFolder", folders: true, query: `mutation($id: ID!) { deleteFolder(id: $id) { id } }`,
			vars: aID, rule: aNeeds(access.Manage), destroys: true},
		{field: "createFolder", name: "createFolder below", folders: true,
			query: `mutation($in: CreateFolderInput!) { createFolder(input: $in) { id } }`,
			vars: func(_ testing.TB, _ *aWorld, _ *aObject, id string) map[string]any {
				return map[string]any{"in": map[string]any{"parentId": id, "name": "Added by the matrix"}}
			}, rule: aAdds},
		{field: "createDocument", folders: true, query: `mutation($in: CreateDocumentInput!) { createDocument(input: $in) { id } }`,
			vars: func(_ testing.TB, w *aWorld, o *aObject, id string) map[string]any {
				tmpl := w.templates["Acme Construction/Site inspection"]
				if o.company == "beta" {
					tmpl = w.templates["Beta Builders/Site inspection"]
				}
				return map[string]any{"in": map[string]any{"folderId": id, "templateId": tmpl, "title": "Added by the matrix"}}
			}, rule: aAdds},
		{field: "updateDocument", documents: true,
			query: `mutation($id: ID!, $v: Int!) { updateDocument(id: $id, input: {expectedVersion: $v, title: "Changed by the matrix"}) { id } }`,
			vars: func(t testing.TB, w *aWorld, _ *aObject, id string) map[string]any {
				var v []int
				aSQL(t, w.s, &v, "SELECT version FROM documents WHERE id = ?", id)
				if len(v) == 0 {
					v = []int{1}
				}
				return map[string]any{"id": id, "v": v[0]}
			}, rule: aNeeds(access.Edit)},
		{field: "deleteDocument", documents: true, query: `mutation($id: ID!) { deleteDocument(id: $id) { id } }`,
			vars: aID, rule: aNeeds(access.Manage), destroys: true},
		{field: "addComment", documents: true, query: `mutation($id: ID!) { addComment(documentId: $id, body: "Seen by the matrix") { id } }`,
			vars: aID, rule: aNeeds(access.View)},
		{field: "setSigners", documents: true, query: `mutation($id: ID!) { setSigners(documentId: $id, userIds: []) { id } }`,
			vars: aID, rule: aNeeds(access.Manage)},
		// Nobody is a signer of the matrix's documents: whoever may view one is refused.
		{field: "signDocument", documents: true, query: `mutation($id: ID!, $v: Int!) { signDocument(id: $id, expectedVersion: $v) { id } }`,
			vars: func(t testing.TB, w *aWorld, _ *aObject, id string) map[string]any {
				var v []int
				aSQL(t, w.s, &v, "SELECT version FROM documents WHERE id = ?", id)
				if len(v) == 0 {
					v = []int{1}
				}
				return map[string]any{"id": id, "v": v[0]}
			}, rule: func(who aWho, o *aObject) string {
				if !o.rights[who].AtLeast(access.View) {
					return aNF
				}
				return aForb
			}},
		{field: "share", folders: true, documents: true, query: `mutation($in: ShareInput!) { share(input: $in) { id } }`,
			vars: func(_ testing.TB, _ *aWorld, _ *aObject, id string) map[string]any {
				return map[string]any{"in": map[string]any{"objectId": id, "email": "shared@neutral.test", "level": "VIEW"}}
			}, rule: aShares},
		{field: "unshare", folders: true, documents: true, query: `mutation($id: ID!) { unshare(grantId: $id) }`,
			vars: func(t testing.TB, w *aWorld, o *aObject, id string) map[string]any {
				// A grant to a bystander, given by the company's admin, for this cell to take back.
				switch o.company {
				case "acme":
					return map[string]any{"id": w.grant(t, aAdmin, id, w.users["unshared@neutral.test"], access.View)}
				case "beta":
					return map[string]any{"id": w.grant(t, aBAdmin, id, w.users["unshared@neutral.test"], access.View)}
				}
				return map[string]any{"id": uuid.NewString()}
			}, rule: aUnshares},
	}
}

// aRow is one row of the matrix: a request and what each principal gets for it.
type aRow struct {
	field, name string
	query       string
	vars        func(t testing.TB, w *aWorld, who aWho) map[string]any
	// session, when set, gives the token of the cell (for operations that end sessions).
	session func(t testing.TB, w *aWorld, who aWho) string
	want    map[aWho]string
	// company is the company whose data the row reaches ("acme", "beta"), "" when none.
	company string
	// group names the rows whose denials must all look alike; reference is the row asking for
	// an id that names nothing, to which they are compared.
	group     string
	reference bool
	obj       *aObject
	check     func(t testing.TB, res *testserver.Response)
}

// aWant is the outcome of every logged-in principal (anonymous: UNAUTHENTICATED), with
// exceptions.
func aWant(all string, except map[aWho]string) map[aWho]string {
	m := map[aWho]string{aAnon: aUnauth}
	for _, who := range aEveryone[1:] {
		m[who] = all
	}
	for who, v := range except {
		m[who] = v
	}
	return m
}

// aPublicWant is the outcome of a @public field: the same for everyone, anonymous included.
func aPublicWant(all string) map[aWho]string { return aWant(all, map[aWho]string{aAnon: all}) }

var aAdmins = map[aWho]string{aAdmin: aData, aBAdmin: aData}

// aRows expands the object operations over the objects and adds the rows of the fields that act
// on no folder or document.
func aRows(objects []*aObject) []aRow {
	var rows []aRow
	for _, op := range aObjectOps() {
		for _, o := range objects {
			if (o.folder && !op.folders) || (!o.folder && !op.documents) {
				continue
			}
			if op.folders && op.documents && o.company == "" && !o.folder {
				continue // one random id is enough for an operation on both kinds
			}
			name := op.name
			if name == "" {
				name = op.field
			}
			want := map[aWho]string{aAnon: aUnauth}
			for _, who := range aEveryone[1:] {
				want[who] = op.rule(who, o)
			}
			row := aRow{field: op.field, name: name + " on " + o.name, query: op.query, want: want, company: o.company,
				group: name, reference: o.company == "", obj: o, check: op.check}
			op, o := op, o
			row.vars = func(t testing.TB, w *aWorld, _ aWho) map[string]any {
				id := o.id
				if op.destroys && o.company != "" {
					id = o.make(t, w)
				}
				return op.vars(t, w, o, id)
			}
			rows = append(rows, row)
		}
	}
	none := func(testing.TB, *aWorld, aWho) map[string]any { return nil }
	fresh := func(prefix string) string { return prefix + "-" + uuid.NewString()[:8] + "@fresh.test" }
	member := func(t testing.TB, w *aWorld) string {
		id := w.user(t, fresh("member"))
		if err := w.s.App.Store.AddMember(w.principal(aAdmin), w.acme, id, access.Member); err != nil {
			t.Fatal(err)
		}
		return id
	}
	userArg := func(id func(testing.TB, *aWorld) string) func(testing.TB, *aWorld, aWho) map[string]any {
		return func(t testing.TB, w *aWorld, _ aWho) map[string]any { return map[string]any{"u": id(t, w)} }
	}
	randomUser := func(testing.TB, *aWorld) string { return uuid.NewString() }
	acmeAdmin := func(_ testing.TB, w *aWorld) string { return w.users["admin@acme.test"] }
	betaAdmin := func(_ testing.TB, w *aWorld) string { return w.users["admin@beta.test"] }
	anyMember := map[aWho]string{aAdmin: aData, aManager: aData, aMember: aData, aLimited: aData, aBAdmin: aData}

	rows = append(rows,
		aRow{field: "viewer", query: `{ viewer { user { id } } }`, vars: none, want: aWant(aData, nil)},
		aRow{field: "sessions", query: `{ sessions { id current } }`, vars: none, want: aWant(aData, nil)},
		aRow{field: "members", query: `{ members(first: 100) { totalCount } }`, vars: none, want: aWant(aForb, anyMember)},
		aRow{field: "templates", query: `{ templates(first: 100) { totalCount } }`, vars: none, want: aWant(aForb, anyMember)},
		aRow{field: "documents", query: `{ documents(first: 1) { totalCount } }`, vars: none, want: aWant(aData, nil)},
		aRow{field: "folders", query: `{ folders(first: 1) { totalCount } }`, vars: none, want: aWant(aData, nil)},
		aRow{field: "sharedWithMe", query: `{ sharedWithMe { id } }`, vars: none, want: aWant(aData, nil)},
		aRow{field: "ping", query: `mutation { ping }`, vars: none, want: aWant(aData, nil)},
		aRow{field: "login", query: `mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }`,
			vars: func(testing.TB, *aWorld, aWho) map[string]any {
				return map[string]any{"e": "member@beta.test", "p": aDemoPassword}
			}, want: aPublicWant(aData)},
		aRow{field: "logout", query: `mutation { logout }`, vars: none, want: aWant(aData, nil),
			session: func(t testing.TB, w *aWorld, who aWho) string {
				if who == aAnon {
					return ""
				}
				pw := aDemoPassword
				if who == aGEdit || who == aGExpired {
					pw = aPassword
				}
				return w.login(t, aEmail[who], pw)
			}},
		aRow{field: "revokeSession", name: "revokeSession of another session of B's admin",
			query: `mutation($id: ID!) { revokeSession(id: $id) }`, group: "revokeSession",
			vars: func(_ testing.TB, w *aWorld, _ aWho) map[string]any { return map[string]any{"id": w.spareSession} },
			want: aWant(aNF, map[aWho]string{aBAdmin: aData})},
		aRow{field: "revokeSession", name: "revokeSession of a random id", query: `mutation($id: ID!) { revokeSession(id: $id) }`,
			group: "revokeSession", reference: true,
			vars: func(testing.TB, *aWorld, aWho) map[string]any { return map[string]any{"id": uuid.NewString()} }, want: aWant(aNF, nil)},
		aRow{field: "changePassword", name: "changePassword with a wrong current password",
			query: `mutation { changePassword(currentPassword: "not the password", newPassword: "another long passphrase") }`,
			vars:  none, want: aWant(aBad, nil)},
		aRow{field: "signUp", query: `mutation($in: SignUpInput!) { signUp(input: $in) }`,
			vars: func(testing.TB, *aWorld, aWho) map[string]any {
				return map[string]any{"in": map[string]any{"companyName": "Matrix Oy", "name": "M", "email": fresh("signup"), "password": aPassword}}
			}, want: aPublicWant(aData)},
		aRow{field: "acceptInvitation", query: `mutation($t: String!) { acceptInvitation(token: $t, password: "a long test passphrase 42") { token } }`,
			vars: func(t testing.TB, w *aWorld, _ aWho) map[string]any {
				u, err := w.s.App.Store.CreateUser(t.Context(), storage.NewUser{Email: fresh("invited"), Name: "Invited"})
				if err != nil {
					t.Fatal(err)
				}
				return map[string]any{"t": w.userToken(t, u.ID, storage.PurposeInvite)}
			}, want: aPublicWant(aData)},
		aRow{field: "requestPasswordReset", query: `mutation($e: String!) { requestPasswordReset(email: $e) }`,
			vars: func(testing.TB, *aWorld, aWho) map[string]any { return map[string]any{"e": fresh("nobody")} },
			want: aPublicWant(aData)},
		aRow{field: "resetPassword", query: `mutation($t: String!) { resetPassword(token: $t, password: "a long test passphrase 42") }`,
			vars: func(t testing.TB, w *aWorld, _ aWho) map[string]any {
				return map[string]any{"t": w.userToken(t, w.users["unshared@neutral.test"], storage.PurposeReset)}
			}, want: aPublicWant(aData)},
		aRow{field: "inviteMember", query: `mutation($e: String!) { inviteMember(email: $e, level: MEMBER) }`,
			vars: func(testing.TB, *aWorld, aWho) map[string]any { return map[string]any{"e": fresh("invitee")} },
			want: aWant(aForb, aAdmins)},
		aRow{field: "auditEvents", query: `{ auditEvents(first: 1) { totalCount } }`, vars: none, want: aWant(aForb, aAdmins)},
		aRow{field: "createTemplate", query: `mutation { createTemplate(input: {name: "Matrix", fields: [{key: "a", label: "A", type: TEXT}]}) { id } }`,
			vars: none, want: aWant(aForb, aAdmins)},
		aRow{field: "createFolder", name: "createFolder at the top", query: `mutation { createFolder(input: {name: "Matrix top"}) { id } }`,
			vars: none, want: aWant(aForb, map[aWho]string{aAdmin: aData, aManager: aData, aBAdmin: aData})},
	)
	for _, m := range []struct{ field, query string }{
		{"disableUser", `mutation($u: ID!) { disableUser(userId: $u) }`},
		{"setMemberLevel", `mutation($u: ID!) { setMemberLevel(userId: $u, level: MANAGER) { level } }`},
		{"removeMember", `mutation($u: ID!) { removeMember(userId: $u) }`},
	} {
		rows = append(rows,
			aRow{field: m.field, name: m.field + " of a member of A", query: m.query, vars: userArg(member), company: "acme",
				group: m.field, want: aWant(aForb, map[aWho]string{aAdmin: aData, aBAdmin: aNF})},
			aRow{field: m.field, name: m.field + " of a random id", query: m.query, vars: userArg(randomUser),
				group: m.field, reference: true, want: aWant(aForb, map[aWho]string{aAdmin: aNF, aBAdmin: aNF})},
		)
		if m.field == "disableUser" {
			continue // disabling oneself is refused before the last-admin rule: see TestAuthzMembers
		}
		rows = append(rows,
			aRow{field: m.field, name: m.field + " of A's last admin", query: m.query, vars: userArg(acmeAdmin), company: "acme",
				group: m.field, want: aWant(aForb, map[aWho]string{aAdmin: aConfl, aBAdmin: aNF})},
			aRow{field: m.field, name: m.field + " of B's last admin", query: m.query, vars: userArg(betaAdmin), company: "beta",
				group: m.field, want: aWant(aForb, map[aWho]string{aAdmin: aNF, aBAdmin: aConfl})},
		)
	}
	// Personal data: anyone signed in exports its own; an ADMIN a member of its company; for
	// anyone else a user id is answered like a random one. Erasing oneself is TestEraseUser's
	// (it would end the matrix's sessions); the last ADMIN, even acting elsewhere, stays.
	exportQuery := `mutation($u: ID) { exportMyData(userId: $u) }`
	eraseQuery := `mutation($u: ID!) { eraseUser(userId: $u) }`
	rows = append(rows,
		aRow{field: "exportMyData", name: "exportMyData of oneself", query: exportQuery, vars: none, want: aWant(aData, nil)},
		aRow{field: "exportMyData", name: "exportMyData of a member of A", query: exportQuery, vars: userArg(member), company: "acme",
			group: "exportMyData", want: aWant(aNF, map[aWho]string{aAdmin: aData})},
		aRow{field: "exportMyData", name: "exportMyData of a random id", query: exportQuery, vars: userArg(randomUser),
			group: "exportMyData", reference: true, want: aWant(aNF, nil)},
		aRow{field: "eraseUser", name: "eraseUser of a member of A", query: eraseQuery, vars: userArg(member), company: "acme",
			group: "eraseUser", want: aWant(aNF, map[aWho]string{aAdmin: aData})},
		aRow{field: "eraseUser", name: "eraseUser of a random id", query: eraseQuery, vars: userArg(randomUser),
			group: "eraseUser", reference: true, want: aWant(aNF, nil)},
		aRow{field: "eraseUser", name: "eraseUser of A's last admin", query: eraseQuery, vars: userArg(acmeAdmin), company: "acme",
			group: "eraseUser", want: aWant(aNF, map[aWho]string{aAdmin: aConfl, aForeign: aConfl})},
	)

	// node(id) finds more than folders and documents: companies, comments, templates and users
	// are answered like a random id to whoever may not see them.
	nodeOf := func(id func(w *aWorld) string) func(testing.TB, *aWorld, aWho) map[string]any {
		return func(_ testing.TB, w *aWorld, _ aWho) map[string]any { return map[string]any{"id": id(w)} }
	}
	nodeQuery := `query($id: ID!) { node(id: $id) { id } }`
	bAndItsGuest := aWant(aNF, map[aWho]string{aBAdmin: aData, aGView: aData})
	rows = append(rows,
		aRow{field: "node", name: "node on B company", query: nodeQuery, group: "node", company: "beta", want: bAndItsGuest,
			vars: nodeOf(func(w *aWorld) string { return w.beta })},
		aRow{field: "node", name: "node on a comment of B's shared document", query: nodeQuery, group: "node", company: "beta", want: bAndItsGuest,
			vars: nodeOf(func(w *aWorld) string { return w.betaComment })},
		aRow{field: "node", name: "node on B's template of a shared document", query: nodeQuery, group: "node", company: "beta", want: bAndItsGuest,
			vars: nodeOf(func(w *aWorld) string { return w.templates["Beta Builders/Site inspection"] })},
		aRow{field: "node", name: "node on B's MEMBER user", query: nodeQuery, group: "node", company: "beta",
			want: aWant(aNF, map[aWho]string{aBAdmin: aData}), vars: nodeOf(func(w *aWorld) string { return w.users["member@beta.test"] })},
		aRow{field: "node", name: "node on A's MEMBER user", query: nodeQuery, group: "node", company: "acme",
			want: aWant(aNF, map[aWho]string{aAdmin: aData, aManager: aData, aMember: aData}),
			vars: nodeOf(func(w *aWorld) string { return w.users["member@acme.test"] })},
	)

	// Restoring: ADMINs of the object's company only; a deleted object of another company is
	// answered like a random id.
	deleted := func(folder bool, who aWho, parent string) func(testing.TB, *aWorld, aWho) map[string]any {
		return func(t testing.TB, w *aWorld, _ aWho) map[string]any {
			ctx := w.principal(who)
			if folder {
				id := w.folder(t, who, w.folders[parent], "Deleted by the matrix")
				if _, err := w.s.App.Store.DeleteFolder(ctx, id); err != nil {
					t.Fatal(err)
				}
				return map[string]any{"id": id}
			}
			id := w.document(t, who, w.folders[parent], "Deleted by the matrix")
			if _, err := w.s.App.Store.DeleteDocument(ctx, id); err != nil {
				t.Fatal(err)
			}
			return map[string]any{"id": id}
		}
	}
	randomID := func(testing.TB, *aWorld, aWho) map[string]any { return map[string]any{"id": uuid.NewString()} }
	for _, r := range []struct {
		field, query string
		folder       bool
	}{
		{"restoreDocument", `mutation($id: ID!) { restoreDocument(id: $id) { id } }`, false},
		{"restoreFolder", `mutation($id: ID!) { restoreFolder(id: $id) { id } }`, true},
	} {
		parentA, parentB := "Acme Construction/Harbour Tower", "Beta Builders/Hillside Homes"
		rows = append(rows,
			aRow{field: r.field, name: r.field + " in A", query: r.query, vars: deleted(r.folder, aManager, parentA), company: "acme",
				group: r.field, want: aWant(aForb, map[aWho]string{aAdmin: aData, aBAdmin: aNF})},
			aRow{field: r.field, name: r.field + " in B", query: r.query, vars: deleted(r.folder, aBAdmin, parentB), company: "beta",
				group: r.field, want: aWant(aForb, map[aWho]string{aAdmin: aNF, aBAdmin: aData})},
			aRow{field: r.field, name: r.field + " of a random id", query: r.query, vars: randomID,
				group: r.field, reference: true, want: aWant(aForb, map[aWho]string{aAdmin: aNF, aBAdmin: aNF})},
		)
	}
	// The trash: each member sees its own (ADMINs all of the company's); undelete answers
	// NOT_FOUND for what is not in the caller's trash, and needs a membership.
	undelete := `mutation($id: ID!) { undelete(id: $id) { id } }`
	rows = append(rows,
		aRow{field: "trash", query: `{ trash(first: 1) { nodes { id } } }`, vars: none, want: aWant(aForb, anyMember)},
		aRow{field: "undelete", name: "undelete a manager's document in A", query: undelete, group: "undelete", company: "acme",
			vars: deleted(false, aManager, "Acme Construction/Harbour Tower"),
			want: aWant(aForb, map[aWho]string{aAdmin: aData, aManager: aData, aMember: aNF, aLimited: aNF, aBAdmin: aNF})},
		aRow{field: "undelete", name: "undelete a folder in B", query: undelete, group: "undelete", company: "beta",
			vars: deleted(true, aBAdmin, "Beta Builders/Hillside Homes"),
			want: aWant(aForb, map[aWho]string{aAdmin: aNF, aManager: aNF, aMember: aNF, aLimited: aNF, aBAdmin: aData})},
		aRow{field: "undelete", name: "undelete a random id", query: undelete, group: "undelete", reference: true, vars: randomID,
			want: aWant(aForb, map[aWho]string{aAdmin: aNF, aManager: aNF, aMember: aNF, aLimited: aNF, aBAdmin: aNF})},
	)
	for i := range rows {
		if rows[i].name == "" {
			rows[i].name = rows[i].field
		}
	}
	return rows
}

// aCell is the result of one principal on one row.
type aCell struct {
	row     *aRow
	who     aWho
	outcome string
	shape   string
}

// aPrepare makes the matrix's objects and bystanders; it runs after the list tests, whose counts
// are those of the demo data.
func aPrepare(t testing.TB, w *aWorld) ([]*aObject, []aRow) {
	t.Helper()
	for _, email := range []string{"shared@neutral.test", "unshared@neutral.test"} {
		w.users[email] = w.user(t, email)
	}
	objects := aObjects()
	for _, o := range objects {
		o.id = o.make(t, w)
	}
	// A comment on B's shared document, for node(id).
	for _, o := range objects {
		if o.company == "beta" && !o.folder {
			c, err := w.s.App.Store.AddComment(w.principal(aBAdmin), o.id, "A comment of the matrix")
			if err != nil {
				t.Fatal(err)
			}
			w.betaComment = c.ID
		}
	}
	// A second session of B's admin, for another to try to end.
	var data struct {
		Sessions []struct {
			ID      string
			Current bool
		}
	}
	testserver.MustOK(t, w.s.Do(t, testserver.Request{Query: `{ sessions { id current } }`,
		Token: w.login(t, "admin@beta.test", aDemoPassword)}, &data))
	for _, s := range data.Sessions {
		if s.Current {
			w.spareSession = s.ID
		}
	}
	return objects, aRows(objects)
}

// aRun runs the cells that keep selects and checks each outcome. Rows run a few at a time:
// they share no state (whatever a cell destroys, it made for itself), and the server is meant
// to serve concurrent callers anyway.
func aRun(t *testing.T, w *aWorld, rows []aRow, keep func(r *aRow, who aWho) bool) []aCell {
	var (
		mu    sync.Mutex
		cells []aCell
		wg    sync.WaitGroup
		slots = make(chan struct{}, 4)
	)
	for i := range rows {
		r := &rows[i]
		wg.Add(1)
		slots <- struct{}{}
		go func() {
			defer func() { <-slots; wg.Done() }()
			t.Run(r.name, func(t *testing.T) {
				for _, who := range aEveryone {
					want, ok := r.want[who]
					if !ok {
						t.Errorf("row %q has no outcome for %s", r.name, who)
						return
					}
					if !keep(r, who) {
						continue
					}
					req := w.request(who, r.query, r.vars(t, w, who))
					if r.session != nil {
						req.Token = r.session(t, w, who)
					}
					res := w.s.Do(t, req, nil)
					got := aOutcome(res, r.field)
					if got != want {
						t.Errorf("%-20s got %-16s want %s\n\t%s", who, got, want, aShape(res))
					}
					if r.check != nil {
						r.check(t, res)
					}
					mu.Lock()
					cells = append(cells, aCell{row: r, who: who, outcome: got, shape: aShape(res)})
					mu.Unlock()
				}
			})
		}()
	}
	wg.Wait()
	return cells
}

// aUniform checks that every NOT_FOUND of a group looks exactly like the one for an id that
// names nothing: same status, message, path, extensions and data.
func aUniform(t *testing.T, cells []aCell) {
	ref := map[string]string{}
	for _, c := range cells {
		if c.row.reference && c.outcome == aNF {
			ref[c.row.group+"|"+string(c.who)] = c.shape
		}
	}
	compared := 0
	for _, c := range cells {
		if c.outcome != aNF || c.row.reference || c.row.group == "" {
			continue
		}
		want, ok := ref[c.row.group+"|"+string(c.who)]
		if !ok {
			continue
		}
		compared++
		if c.shape != want {
			t.Errorf("%s, %s: the denial differs from a random id's\n got: %s\nwant: %s", c.row.name, c.who, c.shape, want)
		}
	}
	if compared == 0 {
		t.Error("no denial was compared with a random id's")
	}
}

// aCoverage fails when a root field of the served schema has no row: a new field must be
// added to the matrix before it ships.
func aCoverage(t *testing.T, rows []aRow) {
	covered := map[string]bool{}
	for _, r := range rows {
		covered[r.field] = true
	}
	schema := graph.NewExecutableSchema(graph.Config{}).Schema()
	var missing []string
	// Subscriptions re-authorize every event; their own tests cover them over their transports.
	for _, typ := range []string{"Query", "Mutation"} {
		def := schema.Types[typ]
		if def == nil {
			continue
		}
		for _, f := range def.Fields {
			if !strings.HasPrefix(f.Name, "__") && !covered[f.Name] {
				missing = append(missing, typ+"."+f.Name)
			}
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("root fields without a row in the authorization matrix: %s", strings.Join(missing, ", "))
	}
}

// TestAuthzMatrix runs every row of the matrix for every principal, on the store of the test
// run (SQLite, or PostgreSQL with TEST_DATABASE_URL).
func TestAuthzMatrix(t *testing.T) {
	w := aNewWorld(t)
	t.Run("lists", func(t *testing.T) { aLists(t, w, false) })
	t.Run("foreign company header", func(t *testing.T) { aForeignHeader(t, w) })
	objects, rows := aPrepare(t, w)
	aCoverage(t, rows)
	t.Run("viewerCan", func(t *testing.T) { aViewerCan(t, w, objects) })
	var cells []aCell
	t.Run("cells", func(t *testing.T) { cells = aRun(t, w, rows, func(*aRow, aWho) bool { return true }) })
	t.Run("uniform denial", func(t *testing.T) { aUniform(t, cells) })
	t.Run("viewerCan agrees with the mutations", func(t *testing.T) { aAgree(t, w, objects, cells) })
	t.Logf("authorization matrix: %d rows × %d principals = %d cells", len(rows), len(aEveryone), len(cells))
}

// TestAuthzMatrixRLSAlone runs the cells that cross companies with the storage scope switched
// off: on PostgreSQL, row-level security alone must give every one of them the same answer.
func TestAuthzMatrixRLSAlone(t *testing.T) {
	db := testdb.RequirePostgres(t)
	s := testserver.NewOn(t, db)
	// Before any request, so that no server goroutine reads the flag while it is written.
	s.App.Store.DisableScopeForTest()
	w := aWorldOn(t, s)
	t.Run("lists", func(t *testing.T) { aLists(t, w, true) })
	_, rows := aPrepare(t, w)
	cells := aRun(t, w, rows, aCross)
	t.Run("uniform denial", func(t *testing.T) { aUniform(t, cells) })
	if len(cells) < 300 {
		t.Errorf("only %d cross-company cells ran", len(cells))
	}
	t.Logf("row-level security alone: %d cross-company cells", len(cells))
}

// aCross selects the cells in which the caller reaches into a company it is not acting in:
// there, nothing but row-level security stands between it and the data once the storage scope
// is off. The rows of random ids come along, as the reference of uniform denial.
func aCross(r *aRow, who aWho) bool {
	return who != aAnon && (r.reference || r.company != "" && aActive[who] != r.company)
}

// aLists checks what the lists contain for each principal, on the demo data: what a caller may
// not view is not counted either. With crossOnly, only the principals whose lists would grow by
// crossing companies are checked (scope off: within its company a member sees more).
func aLists(t *testing.T, w *aWorld, crossOnly bool) {
	crossing := map[aWho]bool{aAdmin: true, aBAdmin: true, aGView: true, aGEdit: true, aGExpired: true, aForeign: true}
	count := func(who aWho, query string, vars map[string]any, field string) int {
		t.Helper()
		var data map[string]struct{ TotalCount int }
		res := w.do(t, who, query, vars, &data)
		if len(res.Errors) > 0 {
			t.Fatalf("%s: %s: %+v", who, query, res.Errors)
		}
		return data[field].TotalCount
	}
	f := w.folders
	cases := []struct {
		name, query, field string
		vars               map[string]any
		want               map[aWho]int
	}{
		{"documents", `{ documents(first: 1) { totalCount } }`, "documents", nil,
			map[aWho]int{aAdmin: 34, aManager: 30, aMember: 30, aLimited: 8, aBAdmin: 30, aGView: 21, aGEdit: 1}},
		{"documents in a restricted folder", `query($f: ID!) { documents(filter: {folderId: $f}) { totalCount } }`, "documents",
			map[string]any{"f": f["Acme Construction/HR & Safety"]}, map[aWho]int{aAdmin: 4}},
		{"documents below Harbour Tower", `query($f: ID!) { documents(filter: {folderId: $f, includeSubfolders: true}) { totalCount } }`, "documents",
			map[string]any{"f": f["Acme Construction/Harbour Tower"]}, map[aWho]int{aAdmin: 20, aManager: 20, aMember: 20, aGView: 20}},
		{"top folders", `{ folders(first: 1) { totalCount } }`, "folders", nil,
			map[aWho]int{aAdmin: 3, aManager: 2, aMember: 2, aBAdmin: 2}},
		{"folders below Harbour Tower", `query($f: ID!) { folders(filter: {parentId: $f}) { totalCount } }`, "folders",
			map[string]any{"f": f["Acme Construction/Harbour Tower"]}, map[aWho]int{aAdmin: 2, aManager: 2, aMember: 2, aGView: 2}},
		{"folders below Riverside School", `query($f: ID!) { folders(filter: {parentId: $f}) { totalCount } }`, "folders",
			map[string]any{"f": f["Acme Construction/Riverside School"]}, map[aWho]int{aAdmin: 1, aManager: 1, aMember: 1, aLimited: 1}},
		{"sharedWithMe", `{ sharedWithMe { id } }`, "", nil, map[aWho]int{aLimited: 1, aGView: 2, aGEdit: 1}},
	}
	for _, c := range cases {
		for _, who := range aEveryone[1:] {
			if crossOnly && !crossing[who] {
				continue
			}
			var got int
			if c.field == "" {
				var data struct{ SharedWithMe []struct{ ID string } }
				w.mustOK(t, who, c.query, nil, &data)
				got = len(data.SharedWithMe)
			} else {
				got = count(who, c.query, c.vars, c.field)
			}
			if got != c.want[who] {
				t.Errorf("%s, %s: %d, want %d", c.name, who, got, c.want[who])
			}
		}
	}
	for _, c := range []struct {
		field string
		want  map[aWho]int
	}{
		{"members", map[aWho]int{aAdmin: 4, aManager: 4, aMember: 4, aLimited: 1, aBAdmin: 2}},
		{"templates", map[aWho]int{aAdmin: 2, aManager: 2, aMember: 2, aLimited: 2, aBAdmin: 2}},
	} {
		for who, n := range c.want {
			if crossOnly && !crossing[who] {
				continue
			}
			if got := count(who, `{ `+c.field+`(first: 100) { totalCount } }`, nil, c.field); got != n {
				t.Errorf("%s, %s: %d, want %d", c.field, who, got, n)
			}
		}
	}
	if crossOnly {
		return
	}
	// A LIMITED seat sees itself only; a guest sees none of a company's siblings, and no folder
	// above what was shared with it.
	var edges struct {
		Members struct {
			Edges []struct {
				Node struct{ User struct{ ID string } }
			}
		}
	}
	w.mustOK(t, aLimited, `{ members { edges { node { user { id } } } } }`, nil, &edges)
	if len(edges.Members.Edges) != 1 || edges.Members.Edges[0].Node.User.ID != w.users["limited@acme.test"] {
		t.Errorf("LIMITED member list: %+v, want only itself", edges.Members.Edges)
	}
	var ht struct {
		Folder struct {
			Parent   *struct{ ID string }
			Children struct{ TotalCount int }
		}
	}
	w.mustOK(t, aGView, `query($id: ID!) { folder(id: $id) { parent { id } children { totalCount } } }`,
		map[string]any{"id": f["Acme Construction/Harbour Tower"]}, &ht)
	if ht.Folder.Parent != nil || ht.Folder.Children.TotalCount != 2 {
		t.Errorf("the guest's Harbour Tower: %+v", ht.Folder)
	}
	var doc struct {
		Document struct {
			Folder  *struct{ ID string }
			Company *struct{ ID string }
		}
	}
	w.mustOK(t, aGEdit, `query($id: ID!) { document(id: $id) { folder { id } company { id } } }`, map[string]any{"id": w.rsDoc}, &doc)
	if doc.Document.Folder != nil || doc.Document.Company == nil || doc.Document.Company.ID != w.acme {
		t.Errorf("a guest's document shows its hidden folder or hides its company: %+v", doc.Document)
	}
}

// aForeignHeader checks that an X-Company-ID naming a company the user does not belong to
// acts as no membership at all, and never as a membership there.
func aForeignHeader(t *testing.T, w *aWorld) {
	var v struct {
		Viewer struct {
			Level         *string
			ActiveCompany *struct{ ID string }
			Memberships   []struct{ Level string }
		}
	}
	w.mustOK(t, aForeign, `{ viewer { level activeCompany { id } memberships { level } } }`, nil, &v)
	if v.Viewer.Level != nil || v.Viewer.ActiveCompany != nil || len(v.Viewer.Memberships) != 1 {
		t.Errorf("viewer with a foreign X-Company-ID: %+v", v.Viewer)
	}
	// A company id that is not an id, and one of a company that does not exist, act the same.
	for _, header := range []string{"not-an-id", uuid.NewString(), strings.ToUpper(w.beta)} {
		res := w.s.Do(t, testserver.Request{Query: `{ viewer { level } documents { totalCount } }`, Token: w.tokens[aAdmin], Company: header}, nil)
		testserver.MustOK(t, res)
		if got := string(res.Data); got != `{"viewer":{"level":null},"documents":{"totalCount":0}}` {
			t.Errorf("X-Company-ID %q: %s", header, got)
		}
	}
	// Naming its own company is what a member does; a guest naming the company of its grants
	// gains nothing either.
	res := w.s.Do(t, testserver.Request{Query: `{ viewer { level } }`, Token: w.tokens[aMember], Company: w.acme}, nil)
	if string(res.Data) != `{"viewer":{"level":"MEMBER"}}` {
		t.Errorf("member naming its own company: %s", res.Data)
	}
	res = w.s.Do(t, testserver.Request{Query: `{ viewer { level } documents { totalCount } members { totalCount } }`,
		Token: w.tokens[aGView], Company: w.acme}, nil)
	if fmt.Sprint(res.Codes()) != "[FORBIDDEN]" || !strings.Contains(string(res.Data), `"documents":{"totalCount":21}`) {
		t.Errorf("guest naming the company of its grant: %s %v", res.Data, res.Codes())
	}
}

// aPerms is what viewerCan answers.
type aPerms struct{ View, Edit, Manage, Share, Delete, Sign bool }

// aExpectedPerms derives viewerCan from the rights table.
func aExpectedPerms(who aWho, o *aObject) aPerms {
	r := o.rights[who]
	return aPerms{View: r.AtLeast(access.View), Edit: r.AtLeast(access.Edit), Manage: r.AtLeast(access.Manage),
		Share: aShares(who, o) == aData, Delete: r.AtLeast(access.Manage),
		// The demo lists no signers: nobody may sign (signing_test.go covers access.MaySign).
		Sign: false}
}

// aReadPerms asks for viewerCan; ok is false when the object is not visible.
func aReadPerms(t testing.TB, w *aWorld, who aWho, id string) (aPerms, bool) {
	t.Helper()
	var data struct{ Node *struct{ ViewerCan aPerms } }
	res := w.do(t, who, `query($id: ID!) { node(id: $id) {
		... on Folder { viewerCan { view edit manage share delete sign } }
		... on Document { viewerCan { view edit manage share delete sign } } } }`, map[string]any{"id": id}, &data)
	if len(res.Errors) > 0 || data.Node == nil {
		return aPerms{}, false
	}
	return data.Node.ViewerCan, true
}

// aViewerCan checks viewerCan of every principal on every object against the rights table.
func aViewerCan(t *testing.T, w *aWorld, objects []*aObject) {
	for _, o := range objects {
		for _, who := range aEveryone[1:] {
			got, ok := aReadPerms(t, w, who, o.id)
			want := aExpectedPerms(who, o)
			if ok != want.View || got != want {
				t.Errorf("%s on %s: viewerCan %+v (visible %v), want %+v", who, o.name, got, ok, want)
			}
		}
	}
}

// aAgree checks that what viewerCan promised is what the mutations allowed: edit ⇔ update,
// delete ⇔ delete, share ⇔ share, manage ⇔ grants.
func aAgree(t *testing.T, w *aWorld, objects []*aObject, cells []aCell) {
	flags := map[string]func(aPerms) bool{
		"updateFolder": func(p aPerms) bool { return p.Edit }, "updateDocument": func(p aPerms) bool { return p.Edit },
		"deleteFolder": func(p aPerms) bool { return p.Delete }, "deleteDocument": func(p aPerms) bool { return p.Delete },
		"share": func(p aPerms) bool { return p.Share }, "grants": func(p aPerms) bool { return p.Manage },
		"addComment": func(p aPerms) bool { return p.View }, "signDocument": func(p aPerms) bool { return p.Sign },
	}
	perms := map[*aObject]map[aWho]aPerms{}
	for _, o := range objects {
		perms[o] = map[aWho]aPerms{}
		for _, who := range aEveryone[1:] {
			p, _ := aReadPerms(t, w, who, o.id)
			perms[o][who] = p
		}
	}
	checked := 0
	for _, c := range cells {
		flag, ok := flags[c.row.field]
		if !ok || c.row.obj == nil || c.row.obj.company == "" || c.who == aAnon || c.outcome == aNF {
			continue
		}
		checked++
		if flag(perms[c.row.obj][c.who]) != (c.outcome == aData) {
			t.Errorf("%s, %s: viewerCan %+v but the operation answered %s", c.row.name, c.who, perms[c.row.obj][c.who], c.outcome)
		}
	}
	if checked == 0 {
		t.Error("nothing compared")
	}
}

// TestAuthzWalls shows that each wall holds alone and that the matrix would catch a regression:
// with the storage scope off, a cross-company read leaks on SQLite (no second wall there) and is
// refused on PostgreSQL by row-level security; with row-level security bypassed (the server
// connected as the table owner, a superuser), the storage scope alone refuses it; with both off
// it leaks. The read is node(id), whose only guard is storage, and the document list.
func TestAuthzWalls(t *testing.T) {
	read := func(t *testing.T, s *testserver.Server) string {
		var ids []string
		aSQL(t, s, &ids, "SELECT id FROM documents WHERE company_id = ? ORDER BY id LIMIT 1", s.Demo.Companies["Beta Builders"])
		tok := s.Login(t, "admin@acme.test")
		var data struct{ Documents struct{ TotalCount int } }
		res := s.Do(t, testserver.Request{Query: `query($id: ID!) { node(id: $id) { id } documents { totalCount } }`,
			Variables: map[string]any{"id": ids[0]}, Token: tok}, &data)
		return fmt.Sprintf("%s, %d documents", aOutcome(res, "node"), data.Documents.TotalCount)
	}
	const denied, leaked = "NOT_FOUND, 34 documents", "DATA, 64 documents"

	t.Run("both walls", func(t *testing.T) {
		if got := read(t, testserver.New(t)); got != denied {
			t.Errorf("cross-company read: %s, want %s", got, denied)
		}
	})
	t.Run("storage scope off", func(t *testing.T) {
		s := testserver.New(t)
		s.App.Store.DisableScopeForTest()
		want := denied // row-level security holds alone
		if s.DB.Dialect == database.SQLite {
			want = leaked // nothing else stands in the way: the scope's tests are what guard SQLite
		}
		if got := read(t, s); got != want {
			t.Errorf("cross-company read with the scope off on %s: %s, want %s", s.DB.Dialect, got, want)
		}
	})
	t.Run("row-level security bypassed", func(t *testing.T) {
		db := testdb.RequirePostgres(t)
		owner := *db
		owner.App = db.Owner // a superuser: policies do not bind it
		if err := owner.App.CheckServerRole(t.Context()); err == nil {
			t.Fatal("the owner connection passes CheckServerRole; this test needs one that bypasses RLS")
		}
		if got := read(t, testserver.NewOn(t, &owner)); got != denied {
			t.Errorf("cross-company read with RLS bypassed: %s, want %s (the storage scope alone)", got, denied)
		}
	})
	t.Run("both off", func(t *testing.T) {
		db := testdb.RequirePostgres(t)
		owner := *db
		owner.App = db.Owner
		s := testserver.NewOn(t, &owner)
		s.App.Store.DisableScopeForTest()
		if got := read(t, s); got != leaked {
			t.Errorf("cross-company read with both walls off: %s, want %s (else the tests above prove nothing)", got, leaked)
		}
	})
}
