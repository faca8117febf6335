package subscribe_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/laatu/laatu/internal/subscribe"
	"github.com/laatu/laatu/internal/testdb"
)

// finalError checks the response that ends a stream: null data and one error with code.
func finalError(t *testing.T, r response, field, code string) {
	t.Helper()
	if string(r.Data) != `{"`+field+`":null}` || len(r.Errors) != 1 || r.Errors[0].code() != code {
		t.Fatalf("final response %s %+v; want %s null with %s", r.Data, r.Errors, field, code)
	}
	if len(r.Errors[0].Path) != 1 || r.Errors[0].Path[0] != field {
		t.Fatalf("error path %v, want [%s]", r.Errors[0].Path, field)
	}
}

func revokedGrant(t *testing.T, s *server, sse bool) {
	beta := s.fixture(t, "admin@beta.test")
	betaAdmin := s.login(t, "admin@beta.test")
	guest := s.login(t, "guest@partner.test")
	docID := s.createDocument(t, betaAdmin, beta.folders[firstKey(beta.folders)], beta.template, "For the partner")
	var grant struct{ Share struct{ ID string } }
	s.do(t, betaAdmin, `mutation($id: ID!) { share(input: {objectId: $id, email: "guest@partner.test", level: VIEW}) { id } }`,
		map[string]any{"id": docID}, &grant)
	vars := map[string]any{"id": docID}

	var next func() response
	var complete func()
	if sse {
		c := openSSE(t, s.url, guest, documentSub, vars)
		s.waitStreams(t, 1)
		next, complete = c.event, func() { c.complete(); c.ended() }
	} else {
		w := s.subscribeAs(t, guest, documentSub, vars)
		next, complete = func() response { return w.event("1") }, func() { w.complete("1") }
	}

	s.retitle(t, betaAdmin, docID, "Shared and live")
	if ev := data[documentEvent](t, next()).DocumentChanged; ev.Kind != "UPDATED" || ev.Document.Title != "Shared and live" {
		t.Fatalf("before the revocation: %+v", ev)
	}
	s.do(t, betaAdmin, `mutation($id: ID!) { unshare(grantId: $id) }`, map[string]any{"id": grant.Share.ID}, nil)
	finalError(t, next(), "documentChanged", "NOT_FOUND")
	complete()
	s.waitNoStreams(t)
}

func firstKey(m map[string]string) string {
	for k := range m {
		return k
	}
	return ""
}

func TestEndOfAccessEndsStreams(t *testing.T) {
	s := newServer(t, testdb.New(t), func(o *subscribe.Options) { o.RecheckInterval = 300 * time.Millisecond })
	acme := s.fixture(t, "admin@acme.test")
	admin := s.login(t, "admin@acme.test")
	ids := func(email string) string {
		var data struct {
			Viewer struct{ User struct{ ID string } }
		}
		s.do(t, s.login(t, email), `{ viewer { user { id } } }`, nil, &data)
		return data.Viewer.User.ID
	}
	tests := []struct {
		name, email, doc string
		end              func(token string)
		code             string
	}{
		// No event tells of a logout: the timer finds it.
		{"logout", "manager@acme.test", acme.docs["Harbour Tower"], func(token string) {
			s.do(t, token, `mutation { logout }`, nil, nil)
		}, "UNAUTHENTICATED"},
		{"member removed", "member@acme.test", acme.docs["Harbour Tower"], func(string) {
			s.do(t, admin, `mutation($u: ID!) { removeMember(userId: $u) }`, map[string]any{"u": ids("member@acme.test")}, nil)
		}, "FORBIDDEN"},
		{"user disabled", "limited@acme.test", acme.docs["Riverside School/Inspections"], func(string) {
			s.do(t, admin, `mutation($u: ID!) { disableUser(userId: $u) }`, map[string]any{"u": ids("limited@acme.test")}, nil)
		}, "UNAUTHENTICATED"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			token := s.freshLogin(t, tc.email)
			w := s.mustDial(t)
			w.init(map[string]any{"Authorization": "Bearer " + token})
			w.subscribe("doc", documentSub, map[string]any{"id": tc.doc})
			w.subscribe("shared", sharedSub, nil)
			s.waitStreams(t, 2)

			tc.end(token)
			ended := map[string]bool{}
			for len(ended) < 2 {
				m := w.next()
				switch m.Type {
				case "next":
					field := map[string]string{"doc": "documentChanged", "shared": "sharedWithMeChanged"}[m.ID]
					finalError(t, w.eventFrom(m), field, tc.code)
				case "complete":
					ended[m.ID] = true
				default:
					t.Fatalf("unexpected %+v", m)
				}
			}
			// A session that ended closes with 4401 (log in again: graphql-ws does not retry it);
			// changed access with 4403 (connect again: graphql-ws retries it).
			want := websocket.StatusCode(4401)
			if tc.code == "FORBIDDEN" {
				want = 4403
			}
			if code := w.closed(); code != want {
				t.Fatalf("close code %d, want %d", code, want)
			}
			s.waitNoStreams(t)
		})
	}
}

func crossCompany(t *testing.T, s *server) {
	acme := s.fixture(t, "admin@acme.test")
	beta := s.fixture(t, "admin@beta.test")
	acmeAdmin, betaAdmin := s.login(t, "admin@acme.test"), s.login(t, "admin@beta.test")
	w := s.mustDial(t)
	w.init(map[string]any{"token": s.login(t, "member@acme.test")})
	w.subscribe("folder", folderSub, map[string]any{"id": acme.folders["Harbour Tower"]})
	w.subscribe("shared", sharedSub, nil)
	s.waitStreams(t, 2)

	// Beta is busy: none of it reaches an Acme subscriber.
	for path, folder := range beta.folders {
		doc := s.createDocument(t, betaAdmin, folder, beta.template, "Beta: "+path)
		s.retitle(t, betaAdmin, doc, "Beta, again: "+path)
		s.do(t, betaAdmin, `mutation($id: ID!) { addComment(documentId: $id, body: "Beta only") { id } }`, map[string]any{"id": doc}, nil)
	}
	w.silent()

	// Nor may Beta follow an Acme object, whose existence it cannot even learn.
	b := s.mustDial(t)
	b.init(map[string]any{"Authorization": "Bearer " + betaAdmin})
	b.subscribe("1", documentSub, map[string]any{"id": acme.docs["Harbour Tower"]})
	if r := b.event("1"); len(r.Errors) != 1 || r.Errors[0].code() != "NOT_FOUND" {
		t.Fatalf("Beta following an Acme document: %s %+v", r.Data, r.Errors)
	}
	b.complete("1")

	doc := s.createDocument(t, acmeAdmin, acme.folders["Harbour Tower/Foundations"], acme.template, "Acme again")
	ev := data[folderEvent](t, w.event("folder")).FolderChanged
	if ev.Kind != "CREATED" || ev.ObjectID != doc || ev.Document == nil || ev.Document.Title != "Acme again" {
		t.Fatalf("the Acme change: %+v", ev)
	}
}

func TestTwoInstancesOnOnePostgres(t *testing.T) {
	db := testdb.RequirePostgres(t)
	one, two := newServer(t, db), newServer(t, db)
	acme := one.fixture(t, "admin@acme.test")
	admin := one.login(t, "admin@acme.test")
	doc := one.createDocument(t, admin, acme.folders["Harbour Tower/Structure"], acme.template, "Weld log")

	// Subscribers on instance two, over both transports; the change goes through instance one.
	w := two.subscribeAs(t, two.login(t, "member@acme.test"), documentSub, map[string]any{"id": doc})
	c := openSSE(t, two.url, two.login(t, "guest@partner.test"), documentSub, map[string]any{"id": doc})
	two.waitStreams(t, 2)
	one.retitle(t, admin, doc, "Changed through instance one")
	for _, r := range []response{w.event("1"), c.event()} {
		if ev := data[documentEvent](t, r).DocumentChanged; ev.Document == nil || ev.Document.Title != "Changed through instance one" {
			t.Fatalf("on instance two: %+v", ev)
		}
	}
}

// eventFrom decodes a next message already read.
func (w *wsClient) eventFrom(m wsMsg) response {
	w.t.Helper()
	var r response
	if err := json.Unmarshal(m.Payload, &r); err != nil {
		w.t.Fatal(err)
	}
	return r
}

func TestResyncAfterListenerReconnects(t *testing.T) {
	db := testdb.RequirePostgres(t)
	s := newServer(t, db)
	acme := s.fixture(t, "admin@acme.test")
	admin := s.login(t, "admin@acme.test")
	doc := s.createDocument(t, admin, acme.folders["Harbour Tower"], acme.template, "Crane inspection")
	w := s.mustDial(t)
	w.init(map[string]any{"Authorization": "Bearer " + s.login(t, "member@acme.test")})
	w.subscribe("doc", documentSub, map[string]any{"id": doc})
	w.subscribe("comments", commentSub, map[string]any{"id": doc})
	s.waitStreams(t, 2)

	// What a database restart does to the listener: its connection goes.
	var n int
	if err := db.Owner.NewRaw(`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = 'laatu-listener' AND datname = current_database()`).Scan(t.Context(), &n); err != nil || n != 1 {
		t.Fatalf("terminate the listener: %d, %v", n, err)
	}
	got, completed := map[string]response{}, false
	for len(got) < 2 || !completed {
		switch m := w.next(); {
		case m.Type == "next":
			got[m.ID] = w.eventFrom(m)
		case m.Type == "complete" && m.ID == "comments" && got["comments"].Errors != nil:
			completed = true
		default:
			t.Fatalf("unexpected %+v", m)
		}
	}
	if ev := data[documentEvent](t, got["doc"]).DocumentChanged; ev.Kind != "RESYNC" || ev.Document == nil || ev.Document.ID != doc {
		t.Fatalf("documentChanged after the reconnection: %+v", ev)
	}
	// A comment has no kind to tell RESYNC with: that stream ends, asking for a reload.
	finalError(t, got["comments"], "commentAdded", "CONFLICT")

	// The listener is back: changes flow again.
	s.retitle(t, admin, doc, "After the outage")
	if ev := data[documentEvent](t, w.event("doc")).DocumentChanged; ev.Kind != "UPDATED" {
		t.Fatalf("after the reconnection: %+v", ev)
	}
}
