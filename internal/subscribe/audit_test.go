package subscribe_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/laatu/laatu/internal/testdb"
)

const auditSub = `subscription($action: String, $object: ID) { auditEventAdded(action: $action, objectId: $object) {
	id seq action objectType objectId clientIp actorId principalKind principalLevel operationType rootFields
	fields { field before after } } }`

type auditEvent struct {
	AuditEventAdded *auditEntry
}

type auditEntry struct {
	ID, Action, ObjectType, ObjectID, ClientIP string
	Seq                                        int
	ActorID                                    *string
	PrincipalKind, PrincipalLevel              string
	OperationType                              string
	RootFields                                 []string
	Fields                                     []struct {
		Field         string
		Before, After any
	}
}

// String sums an event up as the tests compare it: action, object type and field names.
func (e *auditEntry) String() string {
	var fields []string
	for _, f := range e.Fields {
		fields = append(fields, f.Field)
	}
	return e.Action + " " + e.ObjectType + " " + strings.Join(fields, ",")
}

func (e *auditEntry) field(name string) (before, after any, ok bool) {
	for _, f := range e.Fields {
		if f.Field == name {
			return f.Before, f.After, true
		}
	}
	return nil, nil, false
}

// tail is an audit tail, over a WebSocket or SSE.
type tail struct {
	t    *testing.T
	next func() response
	// ws is the WebSocket's client; nil over SSE.
	ws *wsClient
}

func (s *server) wsTail(t *testing.T, token string, vars map[string]any) *tail {
	t.Helper()
	w := s.mustDial(t)
	w.init(map[string]any{"Authorization": "Bearer " + token})
	before := s.app.Subscriptions.Streams()
	w.subscribe("1", auditSub, vars)
	s.waitStreams(t, before+1)
	return &tail{t: t, ws: w, next: func() response { return w.event("1") }}
}

// events reads n events, which must follow each other in the chain without a gap.
func (tl *tail) events(n int) []*auditEntry {
	tl.t.Helper()
	var out []*auditEntry
	for range n {
		e := data[auditEvent](tl.t, tl.next()).AuditEventAdded
		if e == nil {
			tl.t.Fatal("null audit event")
		}
		if len(out) > 0 && e.Seq != out[len(out)-1].Seq+1 {
			tl.t.Fatalf("seq %d after %d: an event was skipped or repeated", e.Seq, out[len(out)-1].Seq)
		}
		out = append(out, e)
	}
	return out
}

// quietFor checks that nothing arrives on a WebSocket tail for d.
func (tl *tail) quietFor(d time.Duration) {
	tl.t.Helper()
	select {
	case m, ok := <-tl.ws.msgs:
		if ok {
			tl.t.Fatalf("unexpected %s %s: %s", m.Type, m.ID, m.Payload)
		}
		tl.t.Fatalf("connection ended: %v", tl.ws.err)
	case <-time.After(d):
	}
}

func summaries(es []*auditEntry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.String()
	}
	return out
}

func (s *server) userID(t *testing.T, token string) string {
	t.Helper()
	var d struct {
		Viewer struct{ User struct{ ID string } }
	}
	s.do(t, token, `{ viewer { user { id } } }`, nil, &d)
	return d.Viewer.User.ID
}

// TestAuditTail runs the live audit tail's cases on one server, one after the other; each
// closes its connections, and its streams end, before the next begins.
func TestAuditTail(t *testing.T) {
	s := newServer(t, testdb.New(t))
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, s *server)
	}{
		{"delivery", auditDelivery},
		{"refused below ADMIN", auditRefused},
		{"companies apart", auditCompaniesApart},
		{"filters", auditFilters},
		{"no feedback loop, then demotion", auditNoLoopThenDemotion},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Runs after the cleanups of the case, which close its connections.
			t.Cleanup(func() { s.waitNoStreams(t) })
			tc.run(t, s)
		})
	}
}

// An ADMIN following the log over a WebSocket and over SSE receives, as they become durable, a
// change and views made by another user in another session, with who, from where and what.
func auditDelivery(t *testing.T, s *server) {
	acme := s.fixture(t, "admin@acme.test")
	doc := s.createDocument(t, s.login(t, "admin@acme.test"), acme.folders["Harbour Tower"], acme.template, "To be tailed")
	manager, member := s.freshLogin(t, "manager@acme.test"), s.freshLogin(t, "member@acme.test")
	managerID, memberID := s.userID(t, manager), s.userID(t, member)
	adminID := s.userID(t, s.login(t, "admin@acme.test"))

	// Both log in before either follows: a member's LOGIN is an event of the company's log too.
	wsToken, sseToken := s.freshLogin(t, "admin@acme.test"), s.freshLogin(t, "admin@acme.test")
	ws := s.wsTail(t, wsToken, nil)
	sse := openSSE(t, s.url, sseToken, auditSub, nil)
	s.waitStreams(t, 2)
	// The WebSocket's tail sees the SSE tail begin; neither sees its own beginning.
	start := ws.events(1)[0]
	if start.String() != "VIEW AUDIT_LOG auditEventAdded" || start.ActorID == nil || *start.ActorID != adminID ||
		start.OperationType != "subscription" || !slices.Equal(start.RootFields, []string{"auditEventAdded"}) ||
		start.ClientIP != "127.0.0.1" {
		t.Fatalf("the start of the SSE tail: %+v", start)
	}

	var v struct{ Document struct{ Version int } }
	s.do(t, manager, `query($id: ID!) { document(id: $id) { version } }`, map[string]any{"id": doc}, &v)
	s.do(t, manager, `mutation Retitle($id: ID!, $in: UpdateDocumentInput!) { updateDocument(id: $id, input: $in) { id } }`,
		map[string]any{"id": doc, "in": map[string]any{"expectedVersion": v.Document.Version, "title": "Tailed"}}, nil)
	s.do(t, member, `query($id: ID!) { document(id: $id) { title status } }`, map[string]any{"id": doc}, nil)

	sseTail := &tail{t: t, next: sse.event}
	want := []string{"VIEW DOCUMENT version", "UPDATE DOCUMENT title", "VIEW DOCUMENT id", "VIEW DOCUMENT status,title"}
	for name, got := range map[string][]*auditEntry{"WebSocket": ws.events(4), "SSE": sseTail.events(4)} {
		if !slices.Equal(summaries(got), want) {
			t.Fatalf("%s tail: %v, want %v", name, summaries(got), want)
		}
		if got[0].Seq != start.Seq+1 {
			t.Fatalf("%s tail: first seq %d after the start at %d", name, got[0].Seq, start.Seq)
		}
		update, view := got[1], got[3]
		before, after, _ := update.field("title")
		if update.ObjectID != doc || *update.ActorID != managerID || update.PrincipalLevel != "MANAGER" ||
			update.ClientIP != "127.0.0.1" || update.OperationType != "mutation" ||
			!slices.Equal(update.RootFields, []string{"updateDocument"}) || after != "Tailed" || before == "Tailed" {
			t.Fatalf("%s tail, the change: %+v", name, update)
		}
		if view.ObjectID != doc || *view.ActorID != memberID || view.PrincipalKind != "MEMBER" || view.PrincipalLevel != "MEMBER" ||
			view.ClientIP != "127.0.0.1" || view.OperationType != "query" {
			t.Fatalf("%s tail, the view: %+v", name, view)
		}
	}
	ws.quietFor(quiet)
	sse.cancel()
}

// MANAGERs, MEMBERs and guests are refused, and nothing is recorded for them: the ADMIN's
// tail stays silent.
func auditRefused(t *testing.T, s *server) {
	tokens := map[string]string{}
	for _, email := range []string{"manager@acme.test", "member@acme.test", "limited@acme.test", "guest@partner.test"} {
		tokens[email] = s.freshLogin(t, email)
	}
	admin := s.wsTail(t, s.login(t, "admin@acme.test"), nil)
	for email, token := range tokens {
		w := s.mustDial(t)
		w.init(map[string]any{"Authorization": "Bearer " + token})
		w.subscribe("1", auditSub, nil)
		if r := w.event("1"); len(r.Errors) != 1 || r.Errors[0].code() != "FORBIDDEN" {
			t.Fatalf("%s: %s %+v", email, r.Data, r.Errors)
		}
		w.complete("1")
		// Over SSE alike.
		c := openSSE(t, s.url, token, auditSub, nil)
		if r := c.event(); len(r.Errors) != 1 || r.Errors[0].code() != "FORBIDDEN" {
			t.Fatalf("%s over SSE: %s %+v", email, r.Data, r.Errors)
		}
		c.complete()
	}
	admin.quietFor(quiet)
	if n := s.app.Subscriptions.Streams(); n != 1 {
		t.Fatalf("%d streams, want the ADMIN's only", n)
	}
}

// The ADMIN of Beta follows Beta's log, in which Acme's events never appear, and the other way
// round.
func auditCompaniesApart(t *testing.T, s *server) {
	acme, beta := s.fixture(t, "admin@acme.test"), s.fixture(t, "admin@beta.test")
	acmeMember, betaMember := s.freshLogin(t, "member@acme.test"), s.freshLogin(t, "member@beta.test")
	acmeTail := s.wsTail(t, s.login(t, "admin@acme.test"), nil)
	betaTail := s.wsTail(t, s.login(t, "admin@beta.test"), nil)
	view := `query($id: ID!) { document(id: $id) { title } }`

	for range 3 {
		s.do(t, acmeMember, view, map[string]any{"id": acme.docs["Harbour Tower"]}, nil)
	}
	for _, e := range acmeTail.events(3) {
		if e.String() != "VIEW DOCUMENT title" || e.ObjectID != acme.docs["Harbour Tower"] {
			t.Fatalf("Acme's tail: %+v", e)
		}
	}
	betaTail.quietFor(quiet)

	betaDoc := beta.docs[firstKey(beta.docs)]
	s.do(t, betaMember, view, map[string]any{"id": betaDoc}, nil)
	if e := betaTail.events(1)[0]; e.String() != "VIEW DOCUMENT title" || e.ObjectID != betaDoc {
		t.Fatalf("Beta's tail: %+v", e)
	}
	acmeTail.quietFor(quiet)
}

// The arguments narrow the tail; what does not match is passed over, not delivered later.
func auditFilters(t *testing.T, s *server) {
	acme := s.fixture(t, "admin@acme.test")
	member := s.freshLogin(t, "member@acme.test")
	doc, other := acme.docs["Harbour Tower"], ""
	for path, id := range acme.docs {
		if id != doc && !strings.HasPrefix(path, "HR") {
			other = id
		}
	}
	tl := s.wsTail(t, s.login(t, "admin@acme.test"), map[string]any{"action": "VIEW", "object": doc})
	s.do(t, member, `query($a: ID!, $b: ID!) { a: document(id: $a) { title } b: document(id: $b) { status } }`,
		map[string]any{"a": other, "b": doc}, nil)
	s.do(t, member, `query($id: ID!) { document(id: $id) { title } }`, map[string]any{"id": doc}, nil)
	got := data[auditEvent](t, tl.next()).AuditEventAdded
	if got.String() != "VIEW DOCUMENT status" || got.ObjectID != doc {
		t.Fatalf("first: %+v", got)
	}
	got = data[auditEvent](t, tl.next()).AuditEventAdded
	if got.String() != "VIEW DOCUMENT title" || got.ObjectID != doc {
		t.Fatalf("second: %+v", got)
	}
	tl.quietFor(quiet)
}

// Two ADMINs follow the log. One view by a member reaches both once, and then nothing more
// comes: delivering events records none, so no tail feeds another or itself. Then one of the
// ADMINs is made a MANAGER, and that tail ends.
func auditNoLoopThenDemotion(t *testing.T, s *server) {
	acme := s.fixture(t, "admin@acme.test")
	admin := s.login(t, "admin@acme.test")
	managerID := s.userID(t, s.login(t, "manager@acme.test"))
	setLevel := func(level string) {
		s.do(t, admin, `mutation($u: ID!, $l: AccessLevel!) { setMemberLevel(userId: $u, level: $l) { level } }`,
			map[string]any{"u": managerID, "l": level}, nil)
	}
	setLevel("ADMIN")
	promoted := s.freshLogin(t, "manager@acme.test")
	member := s.freshLogin(t, "member@acme.test")

	a := s.wsTail(t, admin, nil)
	b := s.wsTail(t, promoted, nil)
	if e := a.events(1)[0]; e.String() != "VIEW AUDIT_LOG auditEventAdded" || *e.ActorID != managerID {
		t.Fatalf("A sees B begin: %+v", e)
	}
	s.do(t, member, `query($id: ID!) { document(id: $id) { title } }`, map[string]any{"id": acme.docs["Harbour Tower"]}, nil)
	ea, eb := a.events(1)[0], b.events(1)[0]
	if ea.ID != eb.ID || ea.String() != "VIEW DOCUMENT title" {
		t.Fatalf("the view: A got %+v, B got %+v", ea, eb)
	}
	// A generous window for a loop to show: each delivery would record an event within
	// milliseconds.
	a.quietFor(2 * time.Second)
	b.quietFor(quiet)

	setLevel("MANAGER")
	r := b.next()
	finalError(t, r, "auditEventAdded", "FORBIDDEN")
	b.ws.complete("1")
	if code := b.ws.closed(); code != 4403 {
		t.Fatalf("close code %d, want 4403", code)
	}
	// A, still an ADMIN, sees the demotion.
	var seen []string
	for _, e := range a.events(2) {
		seen = append(seen, fmt.Sprintf("%s %s", e.String(), e.ObjectID))
	}
	if want := []string{"LEVEL_CHANGED USER level " + managerID, "VIEW MEMBERSHIP level " + managerID}; !slices.Equal(seen, want) {
		t.Fatalf("A after the demotion: %v, want %v", seen, want)
	}
	a.quietFor(quiet)
}

// On PostgreSQL, a tail on one instance follows what is done through another, and after its
// listener lost its connection (notices sent meanwhile are gone) it delivers every event all
// the same, each once: it reads on from the last event it delivered.
func TestAuditTailAcrossInstancesAndOutage(t *testing.T) {
	db := testdb.RequirePostgres(t)
	one, two := newServer(t, db), newServer(t, db)
	acme := one.fixture(t, "admin@acme.test")
	doc := acme.docs["Harbour Tower"]
	member := one.freshLogin(t, "member@acme.test")
	view := func() {
		one.do(t, member, `query($id: ID!) { document(id: $id) { title } }`, map[string]any{"id": doc}, nil)
	}
	tl := two.wsTail(t, two.login(t, "admin@acme.test"), nil)
	view()
	if e := tl.events(1)[0]; e.String() != "VIEW DOCUMENT title" || e.ObjectID != doc {
		t.Fatalf("through instance one: %+v", e)
	}

	// Both instances listen; end both listeners, and view while they reconnect.
	var n int
	if err := db.Owner.NewRaw(`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = 'laatu-listener' AND datname = current_database()`).Scan(t.Context(), &n); err != nil || n != 2 {
		t.Fatalf("terminate the listeners: %d, %v", n, err)
	}
	for range 3 {
		view()
	}
	got := tl.events(3)
	for _, e := range got {
		if e.String() != "VIEW DOCUMENT title" {
			t.Fatalf("after the outage: %v", summaries(got))
		}
	}
	tl.quietFor(quiet)
}
