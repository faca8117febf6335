package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/laatu/laatu/internal/audit"
	"github.com/laatu/laatu/internal/testserver"
)

// gUserID returns the id of the user that token belongs to.
func gUserID(t testing.TB, s *testserver.Server, token string) string {
	t.Helper()
	var v struct {
		Viewer struct{ User struct{ ID string } }
	}
	fOK(t, s, token, `{ viewer { user { id } } }`, nil, &v)
	return v.Viewer.User.ID
}

// gExport is the part of an export the tests read.
type gExport struct {
	Format      string
	SubjectID   string
	Self        bool
	Companies   []string
	Profile     map[string]any
	Memberships []struct {
		CompanyID, Level string
	}
	Sessions []map[string]any
	Comments []struct {
		ID, DocumentID, Body string
	}
	AuditEvents []struct {
		CompanyID, Action, ObjectID string
	}
}

const exportMutation = `mutation($u: ID) { exportMyData(userId: $u) }`

func gExportOf(t testing.TB, s *testserver.Server, token string, userID any) (gExport, string) {
	t.Helper()
	var data struct{ ExportMyData json.RawMessage }
	fOK(t, s, token, exportMutation, map[string]any{"u": userID}, &data)
	var e gExport
	if err := json.Unmarshal(data.ExportMyData, &e); err != nil {
		t.Fatal(err)
	}
	return e, string(data.ExportMyData)
}

// gChainsVerify fails the test unless every audit chain verifies.
func gChainsVerify(t testing.TB, s *testserver.Server) {
	t.Helper()
	reports, err := audit.VerifyAll(context.Background(), s.DB.Owner)
	if err != nil {
		t.Fatal(err)
	}
	if len(reports) == 0 {
		t.Fatal("no chains verified")
	}
	for _, r := range reports {
		if !r.OK() {
			t.Errorf("chain: %s", r)
		}
	}
}

// TestExportMyData: the demo member's own export holds its profile, membership, sessions,
// comments and audit events, and nothing about anyone else; an ADMIN exports a member of its
// company (that company only, no sessions); anyone else, and a random id, get NOT_FOUND alike.
// Every export is an EXPORT event.
func TestExportMyData(t *testing.T) {
	s := testserver.New(t)
	acme := fLogins(t, s)
	beta := s.Login(t, "admin@beta.test")
	member := gUserID(t, s, acme.Member)
	admin := gUserID(t, s, acme.Admin)
	docs := fAllDocuments(t, s, acme.Member)
	if len(docs) == 0 {
		t.Fatal("the member sees no documents")
	}
	fAddComment(t, s, acme.Member, docs[0].ID, "the member's own remark")
	fAddComment(t, s, acme.Manager, docs[0].ID, "the manager's remark")

	e, raw := gExportOf(t, s, acme.Member, nil)
	if e.Format != "laatu.personal-data.v1" || e.SubjectID != member || !e.Self {
		t.Fatalf("export head: %+v", e)
	}
	if e.Profile["email"] != "member@acme.test" || e.Profile["name"] != "Meri Member" {
		t.Errorf("profile %v", e.Profile)
	}
	if len(e.Memberships) != 1 || e.Memberships[0].Level != "MEMBER" || e.Memberships[0].CompanyID != s.Demo.Companies["Acme Construction"] {
		t.Errorf("memberships %+v", e.Memberships)
	}
	if len(e.Sessions) == 0 {
		t.Error("no sessions")
	}
	if len(e.Comments) != 1 || e.Comments[0].Body != "the member's own remark" {
		t.Errorf("comments %+v", e.Comments)
	}
	actions := map[string]bool{}
	for _, ev := range e.AuditEvents {
		actions[ev.Action] = true
	}
	if !actions["LOGIN"] || !actions["CREATE"] || !actions["VIEW"] {
		t.Errorf("audit events of the member lack LOGIN, CREATE or VIEW: %v", actions)
	}
	for _, bad := range []string{"passwordHash", "password_hash", "tokenHash", "$argon2", "the manager's remark",
		"admin@acme.test", "Aino Admin", "manager@acme.test", "Matti Manager", "limited@acme.test", "Bea Admin", "guest@partner.test", "Greta Guest"} {
		if strings.Contains(raw, bad) {
			t.Errorf("the member's export holds %q", bad)
		}
	}

	// An ADMIN exports the member: Acme only, without sessions.
	ea, raw := gExportOf(t, s, acme.Admin, member)
	if ea.Self || ea.SubjectID != member || len(ea.Companies) != 1 || len(ea.Sessions) != 0 || len(ea.Comments) != 1 {
		t.Errorf("admin's export of the member: %+v", ea)
	}
	if strings.Contains(raw, "Aino Admin") || strings.Contains(raw, "admin@acme.test") {
		t.Error("the admin's export of the member holds the admin")
	}

	// Denied exactly as absent: a member asking for the admin, another company's admin asking
	// for Acme's member, and a random id.
	want := fFail(t, s, acme.Member, exportMutation, map[string]any{"u": "0190aaaa-0000-7000-8000-000000000000"}, "NOT_FOUND")
	for name, tc := range map[string]struct{ token, user string }{
		"member asks for admin":   {acme.Member, admin},
		"manager asks for member": {acme.Manager, member},
		"other company's admin":   {beta, member},
	} {
		got := fFail(t, s, tc.token, exportMutation, map[string]any{"u": tc.user}, "NOT_FOUND")
		if got.Message != want.Message {
			t.Errorf("%s: %q, unlike absence %q", name, got.Message, want.Message)
		}
	}
	fFail(t, s, acme.Member, exportMutation, map[string]any{"u": "not-an-id"}, "NOT_FOUND")
	fFail(t, s, "", exportMutation, nil, "UNAUTHENTICATED")

	var n int
	aSQL(t, s, &n, "SELECT count(*) FROM audit_events WHERE action = 'EXPORT' AND object_id = ?", member)
	if n != 2 { // own and the admin's, both in Acme
		t.Errorf("%d EXPORT events of the member, want 2", n)
	}
	gChainsVerify(t, s)
}

const eraseMutation = `mutation($u: ID!) { eraseUser(userId: $u) }`

// TestEraseUser: the demo member erases itself: its name and address are replaced, its
// password, sessions, mailed tokens and mail are gone, it cannot log in, its comment stays and
// shows the erased user as author, an ERASE event is recorded and every audit chain still
// verifies. A member cannot erase another (answered as absence); the last ADMIN of a company
// is refused with CONFLICT; an ADMIN erases a member of its only company.
func TestEraseUser(t *testing.T) {
	s := testserver.New(t)
	acme := fLogins(t, s)
	beta := s.Login(t, "admin@beta.test")
	limited := s.Login(t, "limited@acme.test")
	member := gUserID(t, s, acme.Member)
	manager := gUserID(t, s, acme.Manager)
	admin := gUserID(t, s, acme.Admin)
	betaAdmin := gUserID(t, s, beta)
	limitedID := gUserID(t, s, limited)
	docs := fAllDocuments(t, s, acme.Member)
	fAddComment(t, s, acme.Member, docs[0].ID, "written before the erasure")
	fOK(t, s, "", `mutation { requestPasswordReset(email: "member@acme.test") }`, nil, nil)

	// Denied as absent: a member erasing another, another company's admin, a random id.
	want := fFail(t, s, acme.Member, eraseMutation, map[string]any{"u": "0190aaaa-0000-7000-8000-000000000000"}, "NOT_FOUND")
	for name, tc := range map[string]struct{ token, user string }{
		"member erases manager":  {acme.Member, manager},
		"manager erases member":  {acme.Manager, member},
		"other company's admin":  {beta, member},
		"member erases an admin": {acme.Member, admin},
	} {
		got := fFail(t, s, tc.token, eraseMutation, map[string]any{"u": tc.user}, "NOT_FOUND")
		if got.Message != want.Message {
			t.Errorf("%s: %q, unlike absence %q", name, got.Message, want.Message)
		}
	}
	fFail(t, s, acme.Member, eraseMutation, map[string]any{"u": "nonsense"}, "NOT_FOUND")
	// The last ADMIN of a company stays.
	fFail(t, s, beta, eraseMutation, map[string]any{"u": betaAdmin}, "CONFLICT")
	fFail(t, s, acme.Admin, eraseMutation, map[string]any{"u": admin}, "CONFLICT")

	// The member erases itself.
	fOK(t, s, acme.Member, eraseMutation, map[string]any{"u": member}, nil)
	res := s.Do(t, testserver.Request{Query: `{ viewer { user { id } } }`, Token: acme.Member}, nil)
	if len(res.Errors) == 0 || res.Errors[0].Code() != "UNAUTHENTICATED" {
		t.Errorf("the erased member's token still works: %d %+v", res.Status, res.Errors)
	}
	res = s.Do(t, testserver.Request{Query: `mutation { login(email: "member@acme.test", password: "laatu-demo-password") { token } }`}, nil)
	if len(res.Errors) == 0 {
		t.Error("the erased member logs in")
	}
	var row struct {
		Name, Email string
		Hash        *string `bun:"password_hash"`
		Disabled    bool
	}
	aSQL(t, s, &row, "SELECT name, email, password_hash, disabled_at IS NOT NULL AS disabled FROM users WHERE id = ?", member)
	if row.Name != "Erased user" || !strings.HasPrefix(row.Email, "erased-") || !strings.HasSuffix(row.Email, "@invalid") || row.Hash != nil || !row.Disabled {
		t.Errorf("erased user row %+v", row)
	}
	for q, want := range map[string]int{
		"SELECT count(*) FROM sessions WHERE user_id = ?":                            0,
		"SELECT count(*) FROM user_tokens WHERE user_id = ?":                         0,
		"SELECT count(*) FROM memberships WHERE user_id = ?":                         0,
		"SELECT count(*) FROM comments WHERE author_id = ?":                          1,
		"SELECT count(*) FROM audit_events WHERE action = 'ERASE' AND object_id = ?": 1, // Acme
	} {
		var n int
		aSQL(t, s, &n, q, member)
		if n != want {
			t.Errorf("%s: %d, want %d", q, n, want)
		}
	}
	var mails int
	aSQL(t, s, &mails, "SELECT count(*) FROM outbox_emails WHERE recipient = 'member@acme.test'")
	if mails != 0 {
		t.Errorf("%d mails to the erased address remain", mails)
	}
	var comments struct {
		Document struct {
			Comments struct {
				Nodes []struct {
					Body   string
					Author *struct{ ID, Name string }
				}
			}
		}
	}
	fOK(t, s, acme.Admin, `query($id: ID!) { document(id: $id) { comments(first: 50) { nodes { body author { id name } } } } }`,
		map[string]any{"id": docs[0].ID}, &comments)
	found := false
	for _, c := range comments.Document.Comments.Nodes {
		if c.Body == "written before the erasure" {
			found = true
			if c.Author == nil || c.Author.ID != member || c.Author.Name != "Erased user" {
				t.Errorf("author of the erased member's comment: %+v", c.Author)
			}
		}
	}
	if !found {
		t.Error("the erased member's comment is gone")
	}
	gChainsVerify(t, s)

	// An ADMIN may not erase someone another company knows too: Beta's member, once Acme shares
	// a folder with it.
	folders := fFolders(t, s, acme.Admin)
	fOK(t, s, acme.Admin, `mutation($in: ShareInput!) { share(input: $in) { id } }`,
		map[string]any{"in": map[string]any{"objectId": folders["Harbour Tower"], "email": "member@beta.test", "level": "VIEW"}}, nil)
	fFail(t, s, beta, eraseMutation, map[string]any{"u": gUserID(t, s, s.Login(t, "member@beta.test"))}, "FORBIDDEN")

	// The ADMIN of the LIMITED seat's only company erases it.
	fOK(t, s, acme.Admin, eraseMutation, map[string]any{"u": limitedID}, nil)
	var name string
	aSQL(t, s, &name, "SELECT name FROM users WHERE id = ?", limitedID)
	if name != "Erased user" {
		t.Errorf("limited seat's name after erasure: %q", name)
	}

	// A guest erases itself: its grants in both companies go, and each gets an ERASE event.
	guest := s.Login(t, "guest@partner.test")
	guestID := gUserID(t, s, guest)
	fOK(t, s, guest, eraseMutation, map[string]any{"u": guestID}, nil)
	var grants, erased int
	aSQL(t, s, &grants, "SELECT count(*) FROM grants WHERE grantee_id = ?", guestID)
	aSQL(t, s, &erased, "SELECT count(*) FROM audit_events WHERE action = 'ERASE' AND object_id = ?", guestID)
	if grants != 0 || erased != 2 {
		t.Errorf("guest erased: %d grants left, %d ERASE events (want 0 and 2)", grants, erased)
	}
	gChainsVerify(t, s)
}
