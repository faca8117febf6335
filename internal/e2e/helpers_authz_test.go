package e2e

// Helpers of the access-control tests (issue 3). Every name starts with a so that the other
// test files of this package can add helpers of their own without colliding.

import (
	"context"
	"encoding/json"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/laatu/laatu/internal/access"
	"github.com/laatu/laatu/internal/auth/token"
	"github.com/laatu/laatu/internal/seed"
	"github.com/laatu/laatu/internal/storage"
	"github.com/laatu/laatu/internal/testserver"
)

// aWho names a principal of the authorization matrix.
type aWho string

// The principals of the matrix. Acme is company A, Beta company B.
const (
	aAnon     aWho = "anonymous"
	aAdmin    aWho = "acme ADMIN"
	aManager  aWho = "acme MANAGER"
	aMember   aWho = "acme MEMBER"
	aLimited  aWho = "acme LIMITED"
	aBAdmin   aWho = "beta ADMIN"
	aGView    aWho = "guest VIEW"    // guest@partner.test: VIEW on Acme's Harbour Tower, EDIT on a Beta document
	aGEdit    aWho = "guest EDIT"    // a fresh guest with EDIT on Acme documents
	aGExpired aWho = "guest expired" // a guest whose grant on Harbour Tower has expired
	// aForeign is Acme's ADMIN naming Beta in X-Company-ID: it must be treated as no membership.
	aForeign aWho = "acme ADMIN as Beta"
)

// aEveryone lists the principals in the order the matrix reports them.
var aEveryone = []aWho{aAnon, aAdmin, aManager, aMember, aLimited, aBAdmin, aGView, aGEdit, aGExpired, aForeign}

// aEmail is the login of each principal (the anonymous caller has none).
var aEmail = map[aWho]string{
	aAdmin: "admin@acme.test", aManager: "manager@acme.test", aMember: "member@acme.test",
	aLimited: "limited@acme.test", aBAdmin: "admin@beta.test", aGView: "guest@partner.test",
	aGEdit: "editor@partner.test", aGExpired: "expired@partner.test", aForeign: "admin@acme.test",
}

// aPassword is the password of the accounts the tests create.
const aPassword = "a long test passphrase 42"

// aWorld is a test server with the matrix's principals logged in.
type aWorld struct {
	s          *testserver.Server
	acme, beta string
	tokens     map[aWho]string
	// users maps email addresses to user ids.
	users map[string]string
	// folders maps "Company/Path/To/Folder" to ids, for the demo folders.
	folders map[string]string
	// templates maps "Company/Template name" to ids.
	templates map[string]string
	// rsDoc is the demo document in Riverside School on which the EDIT guest holds its grant.
	rsDoc string
	// spareSession is a session of B's admin that no principal uses.
	spareSession string
	// betaComment is a comment on B's shared document.
	betaComment string
}

// aNewWorld starts a server with the demo data and logs every principal in. The EDIT guest and
// the expired guest are made here, through share and acceptInvitation, as a client would.
func aNewWorld(t testing.TB, opts ...testserver.Option) *aWorld {
	t.Helper()
	return aWorldOn(t, testserver.New(t, opts...))
}

// aWorldOn logs the principals in on a running server.
func aWorldOn(t testing.TB, s *testserver.Server) *aWorld {
	t.Helper()
	w := &aWorld{s: s, acme: s.Demo.Companies["Acme Construction"], beta: s.Demo.Companies["Beta Builders"],
		tokens: map[aWho]string{}, users: map[string]string{}, folders: map[string]string{}, templates: map[string]string{}}
	if w.acme == "" || w.beta == "" {
		t.Fatalf("demo companies missing: %v", s.Demo.Companies)
	}
	w.loadIDs(t)
	for _, who := range []aWho{aAdmin, aManager, aMember, aLimited, aBAdmin, aGView} {
		w.tokens[who] = s.Login(t, aEmail[who])
	}
	w.tokens[aForeign] = w.tokens[aAdmin]

	var docs []string
	aSQL(t, s, &docs, "SELECT id FROM documents WHERE folder_id = ? ORDER BY title", w.folders["Acme Construction/Riverside School"])
	w.rsDoc = docs[0]
	w.tokens[aGEdit] = w.guest(t, aAdmin, w.rsDoc, aEmail[aGEdit], "EDIT", nil)
	soon := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	w.tokens[aGExpired] = w.guest(t, aManager, w.folders["Acme Construction/Harbour Tower"], aEmail[aGExpired], "VIEW", soon)
	// The API refuses an expiry in the past, so the grant is made to expire behind its back.
	aExec(t, s, "UPDATE grants SET expires_at = ? WHERE grantee_id = ?", time.Now().Add(-time.Minute).UTC(), w.users[aEmail[aGExpired]])
	return w
}

// guest shares an object with a new address as by, accepts the invitation from the mail, and
// returns the new user's session token.
func (w *aWorld) guest(t testing.TB, by aWho, objectID, email, level string, expiresAt any) string {
	t.Helper()
	in := map[string]any{"objectId": objectID, "email": email, "level": level}
	if expiresAt != nil {
		in["expiresAt"] = expiresAt
	}
	w.mustOK(t, by, `mutation($in: ShareInput!) { share(input: $in) { id } }`, map[string]any{"in": in}, nil)
	var data struct{ AcceptInvitation struct{ Token string } }
	res := w.s.Do(t, testserver.Request{Query: `mutation($t: String!, $p: String!) { acceptInvitation(token: $t, password: $p) { token } }`,
		Variables: map[string]any{"t": aMailToken(t, w.s, email), "p": aPassword}}, &data)
	testserver.MustOK(t, res)
	var id []string
	aSQL(t, w.s, &id, "SELECT id FROM users WHERE email = ?", email)
	w.users[email] = id[0]
	return data.AcceptInvitation.Token
}

// loadIDs reads the demo data's ids straight from the database.
func (w *aWorld) loadIDs(t testing.TB) {
	t.Helper()
	var users []struct {
		ID    string `bun:"id"`
		Email string `bun:"email"`
	}
	aSQL(t, w.s, &users, "SELECT id, email FROM users")
	for _, u := range users {
		w.users[u.Email] = u.ID
	}
	names := map[string]string{w.acme: "Acme Construction", w.beta: "Beta Builders"}
	var folders []struct {
		ID       string  `bun:"id"`
		Company  string  `bun:"company_id"`
		ParentID *string `bun:"parent_id"`
		Name     string  `bun:"name"`
	}
	aSQL(t, w.s, &folders, "SELECT id, company_id, parent_id, name FROM folders")
	byID := map[string]int{}
	for i, f := range folders {
		byID[f.ID] = i
	}
	for _, f := range folders {
		path := f.Name
		for p := f.ParentID; p != nil; p = folders[byID[*p]].ParentID {
			path = folders[byID[*p]].Name + "/" + path
		}
		w.folders[names[f.Company]+"/"+path] = f.ID
	}
	var templates []struct {
		ID      string `bun:"id"`
		Company string `bun:"company_id"`
		Name    string `bun:"name"`
	}
	aSQL(t, w.s, &templates, "SELECT id, company_id, name FROM document_templates")
	for _, tm := range templates {
		w.templates[names[tm.Company]+"/"+tm.Name] = tm.ID
	}
}

// request builds the request of who: its token, and for aForeign a foreign X-Company-ID.
func (w *aWorld) request(who aWho, query string, vars map[string]any) testserver.Request {
	r := testserver.Request{Query: query, Variables: vars, Token: w.tokens[who]}
	if who == aForeign {
		r.Company = w.beta
	}
	return r
}

// do sends a request as who.
func (w *aWorld) do(t testing.TB, who aWho, query string, vars map[string]any, into any) *testserver.Response {
	t.Helper()
	return w.s.Do(t, w.request(who, query, vars), into)
}

// mustOK sends a request as who that must succeed.
func (w *aWorld) mustOK(t testing.TB, who aWho, query string, vars map[string]any, into any) {
	t.Helper()
	testserver.MustOK(t, w.do(t, who, query, vars, into))
}

// principal is who as the storage layer sees it, for making test objects directly.
func (w *aWorld) principal(who aWho) context.Context {
	p := &access.Principal{UserID: w.users[aEmail[who]], Memberships: map[string]access.Level{}}
	switch who {
	case aAdmin:
		p.CompanyID, p.Level = w.acme, access.Admin
	case aManager:
		p.CompanyID, p.Level = w.acme, access.Manager
	case aBAdmin:
		p.CompanyID, p.Level = w.beta, access.Admin
	}
	if p.CompanyID != "" {
		p.Memberships[p.CompanyID] = p.Level
	}
	return access.NewContext(context.Background(), p)
}

// folder creates a folder below parent as who and returns its id.
func (w *aWorld) folder(t testing.TB, who aWho, parent, name string) string {
	t.Helper()
	f, err := w.s.App.Store.CreateFolder(w.principal(who), storage.NewFolder{ParentID: &parent, Name: name})
	if err != nil {
		t.Fatalf("create folder %s: %v", name, err)
	}
	return f.ID
}

// document creates a document from the company's inspection template as who.
func (w *aWorld) document(t testing.TB, who aWho, folder, title string) string {
	t.Helper()
	company := "Acme Construction"
	if who == aBAdmin {
		company = "Beta Builders"
	}
	d, err := w.s.App.Store.CreateDocument(w.principal(who), storage.NewDocument{FolderID: folder,
		TemplateID: w.templates[company+"/Site inspection"], Title: title})
	if err != nil {
		t.Fatalf("create document %s: %v", title, err)
	}
	return d.ID
}

// grant gives a user a right on an object, as who, and returns the grant's id.
func (w *aWorld) grant(t testing.TB, who aWho, objectID, granteeID string, level access.Right) string {
	t.Helper()
	g, err := w.s.App.Store.Share(w.principal(who), storage.NewGrant{ObjectID: objectID, GranteeID: granteeID, Level: level})
	if err != nil {
		t.Fatalf("grant: %v", err)
	}
	return g.ID
}

// user creates a user with a password hash for aPassword, as sign-up would, and returns its id.
// It leaves w.users alone: cells make users concurrently.
func (w *aWorld) user(t testing.TB, email string) string {
	t.Helper()
	hash, err := w.s.App.Hasher.Hash(context.Background(), aPassword)
	if err != nil {
		t.Fatal(err)
	}
	u, err := w.s.App.Store.CreateUser(context.Background(), storage.NewUser{Email: email, Name: "Test User", PasswordHash: hash})
	if err != nil {
		t.Fatalf("create user %s: %v", email, err)
	}
	return u.ID
}

// userToken issues a single-use token of purpose for a user, as invitations and password
// resets do, without a mail.
func (w *aWorld) userToken(t testing.TB, userID, purpose string) string {
	t.Helper()
	prefix := token.InvitePrefix
	if purpose == storage.PurposeReset {
		prefix = token.ResetPrefix
	}
	plain, hash, err := token.New(prefix)
	if err != nil {
		t.Fatal(err)
	}
	ut := &storage.UserToken{UserID: userID, Purpose: purpose, TokenHash: hash, ExpiresAt: time.Now().Add(time.Hour)}
	if err := w.s.App.Store.IssueToken(context.Background(), ut, nil); err != nil {
		t.Fatal(err)
	}
	return plain
}

// login logs email in with password and returns a new session token.
func (w *aWorld) login(t testing.TB, email, password string) string {
	t.Helper()
	return aLogin(t, w.s, email, password)
}

// aLogin logs in and returns the token, failing the test on any error.
func aLogin(t testing.TB, s *testserver.Server, email, password string) string {
	t.Helper()
	var data struct{ Login struct{ Token string } }
	res := s.Do(t, testserver.Request{Query: `mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }`,
		Variables: map[string]any{"e": email, "p": password}}, &data)
	if len(res.Errors) > 0 || data.Login.Token == "" {
		t.Fatalf("login %s: %+v", email, res.Errors)
	}
	return data.Login.Token
}

// aDemoPassword is the password of every demo account.
const aDemoPassword = seed.Password

// aSQL runs a query as the table owner, past every wall, and scans its rows into dest.
func aSQL(t testing.TB, s *testserver.Server, dest any, query string, args ...any) {
	t.Helper()
	if err := s.DB.Owner.NewRaw(query, args...).Scan(context.Background(), dest); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// aExec runs a statement as the table owner.
func aExec(t testing.TB, s *testserver.Server, query string, args ...any) {
	t.Helper()
	if _, err := s.DB.Owner.ExecContext(context.Background(), query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

var aTokenInMail = regexp.MustCompile(`#token=(\S+)`)

// aMailToken returns the token of the newest mail to email in the outbox.
func aMailToken(t testing.TB, s *testserver.Server, email string) string {
	t.Helper()
	body := aMailBody(t, s, email)
	m := aTokenInMail.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no token in the mail to %s: %q", email, body)
	}
	tok, err := url.QueryUnescape(m[1])
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// aMailBody returns the body of the newest mail to email in the outbox.
func aMailBody(t testing.TB, s *testserver.Server, email string) string {
	t.Helper()
	var bodies []string
	aSQL(t, s, &bodies, "SELECT body FROM outbox_emails WHERE recipient = ? ORDER BY created_at DESC, id DESC LIMIT 1", email)
	if len(bodies) == 0 {
		t.Fatalf("no mail to %s in the outbox", email)
	}
	return bodies[0]
}

// aMailCount counts the mails to email in the outbox.
func aMailCount(t testing.TB, s *testserver.Server, email string) int {
	t.Helper()
	var n []int
	aSQL(t, s, &n, "SELECT count(*) FROM outbox_emails WHERE recipient = ?", email)
	return n[0]
}

// aOutcome classifies a response to a request for the root field: DATA when it succeeded with
// a value, else the code of its only error. Anything else is spelled out, to fail visibly.
func aOutcome(res *testserver.Response, field string) string {
	switch len(res.Errors) {
	case 0:
		var data map[string]json.RawMessage
		_ = json.Unmarshal(res.Data, &data)
		if v, ok := data[field]; ok && string(v) != "null" {
			return "DATA"
		}
		return "NULL without error"
	case 1:
		return res.Errors[0].Code()
	}
	return "several errors: " + strings.Join(res.Codes(), ",")
}

// aShape renders everything a client can see of a response, so that two answers can be
// compared for being alike: status, data and errors (messages, paths, extensions).
func aShape(res *testserver.Response) string {
	b, _ := json.Marshal(struct {
		Status int
		Data   json.RawMessage
		Errors []testserver.Error
	}{res.Status, res.Data, res.Errors})
	return string(b)
}
