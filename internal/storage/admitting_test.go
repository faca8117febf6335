package storage_test

// Which grant admitted a guest to an object (Store.AdmittingGrants for views, Change.GrantID
// for changes): the highest level, then the most specific grant, then the lowest id; comments
// through their document, templates through the documents made from them; never for members.

import (
	"context"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/laatu/laatu/internal/access"
	"github.com/laatu/laatu/internal/storage"
	"github.com/laatu/laatu/internal/testdb"
)

// admitWorld is company A's folder tree R > C > G and a folder X beside it, with documents,
// shared in overlapping ways with two guests and a member.
type admitWorld struct {
	t       *testing.T
	db      *testdb.DB
	s       *storage.Store
	a, b    string // the companies
	admin   *access.Principal
	member  *access.Principal
	guest   *access.Principal // VIEW grants: on R, on C, on dG, on dX1 and dX2; one on B's document
	guest2  *access.Principal // VIEW on dG, EDIT on R, an expired MANAGE on C
	adminB  *access.Principal
	folders map[string]string // R, C, G, X
	docs    map[string]string // dR, dC, dG (in G), dX1, dX2 (in X), dB (in B)
	tmpl1   string            // the template of dR, dC and dG
	tmpl2   string            // the template of dX1 and dX2
	comment string            // a comment on dG
	grants  map[string]string // the grants' ids, by the names above
	changes []storage.Change  // every change emitted, in order
}

func newAdmitWorld(t *testing.T) *admitWorld {
	t.Helper()
	ctx := context.Background()
	w := &admitWorld{t: t, db: testdb.New(t), folders: map[string]string{}, docs: map[string]string{}, grants: map[string]string{}}
	w.s = storage.New(w.db.App)
	w.s.OnChange(func(_ context.Context, _ bun.IDB, ch storage.Change, _ func(func())) error {
		w.changes = append(w.changes, ch)
		return nil
	})
	user := func(email string) string {
		u, err := w.s.CreateUser(ctx, storage.NewUser{Email: email, Name: email})
		if err != nil {
			t.Fatal(err)
		}
		return u.ID
	}
	adminID, memberID, adminBID := user("admin@a.test"), user("member@a.test"), user("admin@b.test")
	guestID, guest2ID := user("guest@g.test"), user("guest2@g.test")
	coA, err := w.s.CreateCompany(ctx, "A", adminID)
	if err != nil {
		t.Fatal(err)
	}
	coB, err := w.s.CreateCompany(ctx, "B", adminBID)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.s.AddMember(ctx, coA.ID, memberID, access.Member); err != nil {
		t.Fatal(err)
	}
	w.a, w.b = coA.ID, coB.ID
	member := func(user, company string, level access.Level) *access.Principal {
		return &access.Principal{UserID: user, CompanyID: company, Level: level, Memberships: map[string]access.Level{company: level}}
	}
	w.admin, w.member, w.adminB = member(adminID, w.a, access.Admin), member(memberID, w.a, access.Member), member(adminBID, w.b, access.Admin)
	w.guest = &access.Principal{UserID: guestID, Memberships: map[string]access.Level{}}
	w.guest2 = &access.Principal{UserID: guest2ID, Memberships: map[string]access.Level{}}

	template := func(p *access.Principal, name string) string {
		tm, err := w.s.CreateTemplate(w.as(p), storage.NewTemplate{Name: name, Fields: []storage.FieldDef{{Key: "a", Label: "A", Type: storage.FieldText}}})
		if err != nil {
			t.Fatal(err)
		}
		return tm.ID
	}
	folder := func(name, parent string) {
		in := storage.NewFolder{Name: name}
		if parent != "" {
			id := w.folders[parent]
			in.ParentID = &id
		}
		f, err := w.s.CreateFolder(w.as(w.admin), in)
		if err != nil {
			t.Fatal(err)
		}
		w.folders[name] = f.ID
	}
	document := func(p *access.Principal, name, folder, tmpl string) {
		d, err := w.s.CreateDocument(w.as(p), storage.NewDocument{FolderID: folder, TemplateID: tmpl, Title: name})
		if err != nil {
			t.Fatal(err)
		}
		w.docs[name] = d.ID
	}
	w.tmpl1, w.tmpl2 = template(w.admin, "T1"), template(w.admin, "T2")
	folder("R", "")
	folder("C", "R")
	folder("G", "C")
	folder("X", "")
	document(w.admin, "dR", w.folders["R"], w.tmpl1)
	document(w.admin, "dC", w.folders["C"], w.tmpl1)
	document(w.admin, "dG", w.folders["G"], w.tmpl1)
	document(w.admin, "dX1", w.folders["X"], w.tmpl2)
	document(w.admin, "dX2", w.folders["X"], w.tmpl2)
	fB, err := w.s.CreateFolder(w.as(w.adminB), storage.NewFolder{Name: "B"})
	if err != nil {
		t.Fatal(err)
	}
	document(w.adminB, "dB", fB.ID, template(w.adminB, "TB"))
	cm, err := w.s.AddComment(w.as(w.admin), w.docs["dG"], "a comment")
	if err != nil {
		t.Fatal(err)
	}
	w.comment = cm.ID

	w.share("guest R", w.admin, w.folders["R"], guestID, access.View, nil)
	w.share("guest C", w.admin, w.folders["C"], guestID, access.View, nil)
	w.share("guest dG", w.admin, w.docs["dG"], guestID, access.View, nil)
	w.share("guest dX1", w.admin, w.docs["dX1"], guestID, access.View, nil)
	w.share("guest dX2", w.admin, w.docs["dX2"], guestID, access.View, nil)
	w.share("guest dB", w.adminB, w.docs["dB"], guestID, access.View, nil)
	w.share("guest2 dG", w.admin, w.docs["dG"], guest2ID, access.View, nil)
	w.share("guest2 R", w.admin, w.folders["R"], guest2ID, access.Edit, nil)
	soon := time.Now().Add(time.Hour)
	w.share("guest2 C", w.admin, w.folders["C"], guest2ID, access.Manage, &soon)
	// The API refuses an expiry in the past, so the grant is made to expire behind its back.
	if _, err := w.db.Owner.ExecContext(ctx, "UPDATE grants SET expires_at = ? WHERE id = ?",
		time.Now().Add(-time.Minute).UTC(), w.grants["guest2 C"]); err != nil {
		t.Fatal(err)
	}
	// A member holding a grant is still admitted by its membership.
	w.share("member dG", w.admin, w.docs["dG"], memberID, access.Edit, nil)
	w.changes = nil
	return w
}

func (w *admitWorld) as(p *access.Principal) context.Context {
	return access.NewContext(context.Background(), p)
}

func (w *admitWorld) share(name string, by *access.Principal, object, grantee string, level access.Right, expires *time.Time) {
	w.t.Helper()
	g, err := w.s.Share(w.as(by), storage.NewGrant{ObjectID: object, GranteeID: grantee, Level: level, ExpiresAt: expires})
	if err != nil {
		w.t.Fatalf("share %s: %v", name, err)
	}
	w.grants[name] = g.ID
}

// admitted asks which grants admitted p to refs in company, failing the test on an error.
func (w *admitWorld) admitted(p *access.Principal, company string, refs ...storage.ObjectRef) map[storage.ObjectRef]string {
	w.t.Helper()
	got, err := w.s.AdmittingGrants(w.as(p), company, refs)
	if err != nil {
		w.t.Fatal(err)
	}
	return got
}

func TestAdmittingGrants(t *testing.T) {
	w := newAdmitWorld(t)
	folder := func(name string) storage.ObjectRef {
		return storage.ObjectRef{Type: storage.RefFolder, ID: w.folders[name]}
	}
	doc := func(name string) storage.ObjectRef {
		return storage.ObjectRef{Type: storage.RefDocument, ID: w.docs[name]}
	}
	comment := storage.ObjectRef{Type: storage.RefComment, ID: w.comment}
	tmpl := func(id string) storage.ObjectRef { return storage.ObjectRef{Type: storage.RefTemplate, ID: id} }
	lower := w.grants["guest dX1"]
	if w.grants["guest dX2"] < lower {
		lower = w.grants["guest dX2"]
	}

	for _, c := range []struct {
		name string
		p    *access.Principal
		ref  storage.ObjectRef
		want string // the grant's name; "" for none
	}{
		{"a folder's own grant", w.guest, folder("R"), "guest R"},
		{"the nearest of two folder grants on the folder", w.guest, folder("C"), "guest C"},
		{"the nearest of two folder grants above the folder", w.guest, folder("G"), "guest C"},
		{"a document below one folder grant", w.guest, doc("dR"), "guest R"},
		{"the nearest folder grant above a document", w.guest, doc("dC"), "guest C"},
		{"a document grant over folder grants of the same level", w.guest, doc("dG"), "guest dG"},
		{"a comment through its document", w.guest, comment, "guest dG"},
		{"a template through the most specific grant of its documents", w.guest, tmpl(w.tmpl1), "guest dG"},
		{"an ungranted folder", w.guest, folder("X"), ""},
		{"a higher level on a folder above over a document grant", w.guest2, doc("dG"), "guest2 R"},
		{"a comment through its document's highest grant", w.guest2, comment, "guest2 R"},
		{"an expired MANAGE on the folder ignored", w.guest2, folder("C"), "guest2 R"},
		{"an expired MANAGE above the document ignored", w.guest2, doc("dC"), "guest2 R"},
		{"nothing reaches the other template", w.guest2, tmpl(w.tmpl2), ""},
		{"a member holding a grant", w.member, doc("dG"), ""},
		{"an admin", w.admin, folder("R"), ""},
		{"anonymous", &access.Principal{}, doc("dG"), ""},
		{"another company's document asked in A", w.guest, doc("dB"), ""},
	} {
		got := w.admitted(c.p, w.a, c.ref)
		want := w.grants[c.want]
		if got[c.ref] != want || (want == "") != (len(got) == 0) {
			t.Errorf("%s: %v, want %q (%s)", c.name, got, want, c.want)
		}
	}

	// Two documents made from one template, each shared on its own at the same level: the
	// lowest grant id decides, whichever is asked first.
	if got := w.admitted(w.guest, w.a, tmpl(w.tmpl2))[tmpl(w.tmpl2)]; got != lower {
		t.Errorf("template through two equal document grants: %q, want the lower id %q", got, lower)
	}
	// The company pins the answer: B's document is admitted in B.
	if got := w.admitted(w.guest, w.b, doc("dB"))[doc("dB")]; got != w.grants["guest dB"] {
		t.Errorf("B's document in B: %q, want %q", got, w.grants["guest dB"])
	}

	// All of them at once, in one query: the same answers.
	refs := []storage.ObjectRef{folder("R"), folder("C"), folder("G"), folder("X"), doc("dR"), doc("dC"), doc("dG"),
		comment, tmpl(w.tmpl1), tmpl(w.tmpl2), {Type: "MEMBERSHIP", ID: w.guest.UserID}}
	want := map[storage.ObjectRef]string{folder("R"): w.grants["guest R"], folder("C"): w.grants["guest C"],
		folder("G"): w.grants["guest C"], doc("dR"): w.grants["guest R"], doc("dC"): w.grants["guest C"],
		doc("dG"): w.grants["guest dG"], comment: w.grants["guest dG"], tmpl(w.tmpl1): w.grants["guest dG"], tmpl(w.tmpl2): lower}
	got := w.admitted(w.guest, w.a, refs...)
	if len(got) != len(want) {
		t.Errorf("all at once: %d answers, want %d: %v", len(got), len(want), got)
	}
	for ref, id := range want {
		if got[ref] != id {
			t.Errorf("all at once, %s %s: %q, want %q", ref.Type, ref.ID, got[ref], id)
		}
	}
}

// TestChangeGrantID shows that storage names the admitting grant in the changes of a guest,
// looked up in the change's own transaction, and in no one else's.
func TestChangeGrantID(t *testing.T) {
	w := newAdmitWorld(t)
	last := func(what string, kind storage.ChangeKind, objectType, objectID string) storage.Change {
		t.Helper()
		if len(w.changes) == 0 {
			t.Fatalf("%s: no change emitted", what)
		}
		ch := w.changes[len(w.changes)-1]
		if ch.Kind != kind || ch.ObjectType != objectType || ch.ObjectID != objectID {
			t.Fatalf("%s: last change %s %s %s, want %s %s %s", what, ch.Kind, ch.ObjectType, ch.ObjectID, kind, objectType, objectID)
		}
		return ch
	}
	update := func(p *access.Principal, doc, title string) {
		t.Helper()
		d, err := w.s.Document(w.as(w.admin), doc)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.s.UpdateDocument(w.as(p), doc, storage.DocumentPatch{ExpectedVersion: d.Version, Title: &title}); err != nil {
			t.Fatal(err)
		}
	}

	// guest2 edits by its EDIT on R, not by its VIEW on the document nor its expired MANAGE.
	update(w.guest2, w.docs["dG"], "by guest2")
	if ch := last("guest2 updates dG", storage.ChangeUpdated, "DOCUMENT", w.docs["dG"]); ch.GrantID != w.grants["guest2 R"] {
		t.Errorf("guest2's update: grant %q, want %q", ch.GrantID, w.grants["guest2 R"])
	}
	cm, err := w.s.AddComment(w.as(w.guest2), w.docs["dC"], "from guest2")
	if err != nil {
		t.Fatal(err)
	}
	if ch := last("guest2 comments on dC", storage.ChangeCreated, "COMMENT", cm.ID); ch.GrantID != w.grants["guest2 R"] {
		t.Errorf("guest2's comment: grant %q, want %q", ch.GrantID, w.grants["guest2 R"])
	}

	// The members' changes carry none, though the member holds a grant on the document.
	update(w.admin, w.docs["dG"], "by the admin")
	if ch := last("the admin updates dG", storage.ChangeUpdated, "DOCUMENT", w.docs["dG"]); ch.GrantID != "" {
		t.Errorf("the admin's update: grant %q, want none", ch.GrantID)
	}
	update(w.member, w.docs["dG"], "by the member")
	if ch := last("the member updates dG", storage.ChangeUpdated, "DOCUMENT", w.docs["dG"]); ch.GrantID != "" {
		t.Errorf("the member's update: grant %q, want none", ch.GrantID)
	}

	// A guest dropping its own grant acted by that grant, which is gone once the change is
	// emitted; afterwards the next one admits it.
	if _, err := w.s.Unshare(w.as(w.guest), w.grants["guest dG"]); err != nil {
		t.Fatal(err)
	}
	if ch := last("the guest drops its grant on dG", storage.ChangeUnshared, "DOCUMENT", w.docs["dG"]); ch.GrantID != w.grants["guest dG"] {
		t.Errorf("the guest's unshare: grant %q, want the dropped %q", ch.GrantID, w.grants["guest dG"])
	}
	dG := storage.ObjectRef{Type: storage.RefDocument, ID: w.docs["dG"]}
	if got := w.admitted(w.guest, w.a, dG)[dG]; got != w.grants["guest C"] {
		t.Errorf("after the unshare: %q, want %q", got, w.grants["guest C"])
	}
}
