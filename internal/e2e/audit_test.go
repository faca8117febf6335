package e2e

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/laatu/laatu/internal/access"
	"github.com/laatu/laatu/internal/config"
	"github.com/laatu/laatu/internal/errs"
	"github.com/laatu/laatu/internal/storage"
	"github.com/laatu/laatu/internal/testserver"
)

// aeEvent is an audit event as these tests read it.
type aeEvent struct {
	ID, Action, ObjectType, ObjectID string
	ActorID                          *string
	PrincipalKind, PrincipalLevel    string
	GrantID                          string
	SessionID, ClientIP, UserAgent   string
	RequestID, OperationType         string
	OperationHash                    string
	RootFields                       []string
	Fields                           []struct {
		Field         string
		Before, After any
		Personal      bool
	}
}

const aeFields = `id action objectType objectId actorId principalKind principalLevel grantId sessionId clientIp userAgent
	requestId operationType operationHash rootFields fields { field before after personal }`

// aeEvents reads the active company's audit log as token (an ADMIN), newest first.
func aeEvents(t testing.TB, s *testserver.Server, token string, filter map[string]any) []aeEvent {
	t.Helper()
	var data struct {
		AuditEvents struct{ Nodes []aeEvent }
	}
	fOK(t, s, token, `query($f: AuditEventFilter) { auditEvents(filter: $f, first: 100) { nodes { `+aeFields+` } } }`,
		map[string]any{"f": filter}, &data)
	return data.AuditEvents.Nodes
}

func aeViewer(t testing.TB, s *testserver.Server, token string) string {
	t.Helper()
	var data struct {
		Viewer struct{ User struct{ ID string } }
	}
	fOK(t, s, token, `{ viewer { user { id } } }`, nil, &data)
	return data.Viewer.User.ID
}

func aeFieldNames(e aeEvent) []string {
	var out []string
	for _, f := range e.Fields {
		out = append(out, f.Field)
	}
	return out
}

// TestAuditEndToEnd is the scenario through GraphQL: an ADMIN sees exactly who viewed
// which fields of which documents from which address, and what changed, and nothing of what
// failed; the audit log's readers are recorded too.
func TestAuditEndToEnd(t *testing.T) {
	t.Parallel()
	s := testserver.New(t)
	// The same database behind a server that believes X-Forwarded-For from loopback.
	proxied := testserver.NewOn(t, s.DB, func(c *config.Config) { c.TrustedProxies = []string{"127.0.0.1/32", "::1/128"} })
	admin, manager := s.Login(t, "admin@acme.test"), s.Login(t, "manager@acme.test")
	member := s.Login(t, "member@acme.test")
	memberID, managerID := aeViewer(t, s, member), aeViewer(t, s, manager)

	// The member browses three documents. The header is not believed: the direct peer is not
	// a trusted proxy on this server, so the socket's address is recorded.
	var page struct {
		Documents struct {
			Nodes []struct{ ID, Title string }
		}
	}
	res := s.Do(t, testserver.Request{Token: member,
		Query:   `query Browse { documents(first: 3, sort: TITLE_ASC) { nodes { id title values owner { name } } } }`,
		Headers: map[string]string{"X-Forwarded-For": "203.0.113.66", "User-Agent": "field-tablet/1.0"}}, &page)
	if len(res.Errors) > 0 || len(page.Documents.Nodes) != 3 {
		t.Fatalf("browse: %+v %s", res.Errors, res.Data)
	}
	browsed := []string{}
	for _, d := range page.Documents.Nodes {
		browsed = append(browsed, d.ID)
	}
	// Through the trusted proxy, the forwarded client address is recorded.
	doc := browsed[0]
	res = proxied.Do(t, testserver.Request{Token: member, Query: `query($id: ID!) { document(id: $id) { title } }`,
		Variables: map[string]any{"id": doc}, Headers: map[string]string{"X-Forwarded-For": "203.0.113.7"}}, nil)
	if len(res.Errors) > 0 {
		t.Fatalf("read through the proxy: %+v", res.Errors)
	}

	views := aeEvents(t, s, admin, map[string]any{"actor": memberID, "action": "VIEW", "object": nil})
	perDoc := map[string][]aeEvent{}
	for _, e := range views {
		if e.ObjectType == "DOCUMENT" {
			perDoc[e.ObjectID] = append(perDoc[e.ObjectID], e)
		}
	}
	for i, id := range browsed {
		evs := perDoc[id]
		want := 1
		if id == doc {
			want = 2
		}
		if len(evs) != want {
			t.Fatalf("document %d: %d VIEW events, want %d: %+v", i, len(evs), want, evs)
		}
		browse := evs[len(evs)-1] // newest first: the browse is the oldest
		fields := aeFieldNames(browse)
		for _, f := range []string{"title", "values", "owner"} {
			if !slices.Contains(fields, f) {
				t.Errorf("document %d: fields %v lack %q", i, fields, f)
			}
		}
		if browse.ClientIP != "127.0.0.1" && browse.ClientIP != "::1" {
			t.Errorf("browse recorded IP %q: the forwarded header of an untrusted peer was believed", browse.ClientIP)
		}
		if browse.UserAgent != "field-tablet/1.0" || browse.PrincipalKind != "MEMBER" || browse.PrincipalLevel != "MEMBER" ||
			browse.SessionID == "" || browse.RequestID == "" || browse.OperationType != "query" ||
			!slices.Equal(browse.RootFields, []string{"documents"}) || len(browse.OperationHash) != 64 {
			t.Errorf("document %d: browse event %+v", i, browse)
		}
		if browse.ActorID == nil || *browse.ActorID != memberID {
			t.Errorf("document %d: actor %v, want the member", i, browse.ActorID)
		}
	}
	proxiedView := perDoc[doc][0]
	if proxiedView.ClientIP != "203.0.113.7" || !slices.Equal(aeFieldNames(proxiedView), []string{"title"}) {
		t.Errorf("read through the trusted proxy: ip %q fields %v", proxiedView.ClientIP, aeFieldNames(proxiedView))
	}
	if got := aeEvents(t, s, admin, map[string]any{"ip": "203.0.113.7"}); len(got) != 1 || got[0].ObjectID != doc {
		t.Errorf("filter by ip: %+v", got)
	}

	// A change records the changed fields, before and after; a failed one records nothing and
	// changes nothing.
	var cur struct {
		Document struct {
			Title   string
			Version int
		}
	}
	fOK(t, s, manager, `query($id: ID!) { document(id: $id) { title version } }`, map[string]any{"id": doc}, &cur)
	const update = `mutation($id: ID!, $in: UpdateDocumentInput!) { updateDocument(id: $id, input: $in) { version } }`
	before := len(aeEvents(t, s, admin, map[string]any{"object": doc, "action": "UPDATE"})) // the demo data's own
	fOK(t, s, manager, update, map[string]any{"id": doc, "in": map[string]any{"expectedVersion": cur.Document.Version, "title": "Audited title"}}, nil)
	fFail(t, s, manager, update, map[string]any{"id": doc, "in": map[string]any{"expectedVersion": cur.Document.Version, "title": "Lost update"}}, "CONFLICT")
	changes := aeEvents(t, s, admin, map[string]any{"object": doc, "action": "UPDATE"})
	if len(changes) != before+1 {
		t.Fatalf("%d new UPDATE events for one successful and one failed update: %+v", len(changes)-before, changes)
	}
	ch := changes[0]
	if ch.ActorID == nil || *ch.ActorID != managerID || len(ch.Fields) == 0 {
		t.Fatalf("update event %+v", ch)
	}
	var title bool
	for _, f := range ch.Fields {
		if f.Field == "title" {
			title = true
			if f.Before != cur.Document.Title || f.After != "Audited title" {
				t.Errorf("title before %v after %v", f.Before, f.After)
			}
		}
		if f.After == "Lost update" {
			t.Error("the failed update left its value in the log")
		}
	}
	if !title {
		t.Errorf("update event fields %v lack title", aeFieldNames(ch))
	}

	// Probing a restricted folder is a denial the ADMIN sees.
	restricted := fFolders(t, s, admin)["HR & Safety"]
	if restricted == "" {
		t.Fatal("no restricted demo folder")
	}
	fFail(t, s, member, `query($id: ID!) { folder(id: $id) { name } }`, map[string]any{"id": restricted}, "NOT_FOUND")
	if denied := aeEvents(t, s, admin, map[string]any{"actor": memberID, "action": "ACCESS_DENIED", "object": restricted}); len(denied) != 1 {
		t.Errorf("%d ACCESS_DENIED events for the probe: %+v", len(denied), denied)
	}

	// The demo data's accounts were made by the system, and the log says so.
	added := aeEvents(t, s, admin, map[string]any{"action": "MEMBER_ADDED"})
	if len(added) != 4 {
		t.Errorf("%d MEMBER_ADDED events in Acme's demo data, want 4", len(added))
	}
	for _, e := range added {
		if e.PrincipalKind != "SYSTEM" || e.ActorID != nil {
			t.Errorf("a demo membership was added by %s %v, want SYSTEM", e.PrincipalKind, e.ActorID)
		}
	}

	// Reading the log is itself recorded; only ADMINs read it, and only MANAGE reads a trail.
	adminID := aeViewer(t, s, admin)
	if reads := aeEvents(t, s, admin, map[string]any{"actor": adminID, "action": "VIEW"}); !slices.ContainsFunc(reads, func(e aeEvent) bool {
		return e.ObjectType == "AUDIT_LOG"
	}) {
		t.Errorf("the ADMIN's reads of the audit log are not in it: %+v", reads)
	}
	fFail(t, s, manager, `{ auditEvents(first: 5) { totalCount } }`, nil, "FORBIDDEN")
	fFail(t, s, member, `query($id: ID!) { auditTrail(objectId: $id, first: 5) { totalCount } }`, map[string]any{"id": doc}, "FORBIDDEN")
	var trail struct {
		AuditTrail struct{ Nodes []aeEvent }
	}
	fOK(t, s, admin, `query($id: ID!) { auditTrail(objectId: $id, first: 100) { nodes { `+aeFields+` } } }`, map[string]any{"id": doc}, &trail)
	actions := map[string]int{}
	for _, e := range trail.AuditTrail.Nodes {
		if e.ObjectID != doc {
			t.Errorf("the trail of %s holds an event about %s", doc, e.ObjectID)
		}
		actions[e.Action]++
	}
	if actions["UPDATE"] != before+1 || actions["VIEW"] < 2 {
		t.Errorf("trail actions %v", actions)
	}
}

// aeDeliveredChange follows documentChanged for doc over SSE as subscriber, and has editor
// change the document's title until the stream delivers the change.
func aeDeliveredChange(t *testing.T, s *testserver.Server, subscriber, editor, doc string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	body, err := json.Marshal(map[string]any{
		"query":     `subscription($id: ID!) { documentChanged(documentId: $id) { kind document { id title } } }`,
		"variables": map[string]any{"id": doc}})
	if err != nil {
		t.Fatal(err)
	}
	stream := openSSEBody(ctx, t, s, subscriber, string(body))
	defer stream.Body.Close()
	got := make(chan string, 1)
	go func() { got <- readUntil(t, stream, "next", "data: ") }()
	// The stream is registered once its first keep-alive or event can flow; repeat the change
	// until the event arrives.
	var cur struct{ Document struct{ Version int } }
	deadline := time.After(20 * time.Second)
	var delivered string
	for delivered == "" {
		fOK(t, s, editor, `query($id: ID!) { document(id: $id) { version } }`, map[string]any{"id": doc}, &cur)
		fOK(t, s, editor, `mutation($id: ID!, $in: UpdateDocumentInput!) { updateDocument(id: $id, input: $in) { id } }`,
			map[string]any{"id": doc, "in": map[string]any{"expectedVersion": cur.Document.Version, "title": "Live " + time.Now().Format(time.RFC3339Nano)}}, nil)
		select {
		case delivered = <-got:
		case <-time.After(500 * time.Millisecond):
		case <-deadline:
			t.Fatal("no delivery")
		}
	}
	if !strings.Contains(delivered, "UPDATED") {
		t.Fatalf("delivery: %s", delivered)
	}
}

// TestAuditSubscriptionDeliveriesAreViews: what a subscription delivers is recorded like what a
// query returns.
func TestAuditSubscriptionDeliveriesAreViews(t *testing.T) {
	t.Parallel()
	s := testserver.New(t)
	admin, manager, member := s.Login(t, "admin@acme.test"), s.Login(t, "manager@acme.test"), s.Login(t, "member@acme.test")
	memberID := aeViewer(t, s, member)
	docs := fAllDocuments(t, s, member)
	doc := docs[0].ID

	aeDeliveredChange(t, s, member, manager, doc)
	var sub []aeEvent
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		sub = nil
		for _, e := range aeEvents(t, s, admin, map[string]any{"actor": memberID, "action": "VIEW", "object": doc}) {
			if e.OperationType == "subscription" {
				sub = append(sub, e)
			}
		}
		if len(sub) > 0 {
			break
		}
	}
	if len(sub) == 0 {
		t.Fatal("the subscription's delivery was not recorded as a view")
	}
	if e := sub[0]; !slices.Contains(aeFieldNames(e), "title") || !slices.Equal(e.RootFields, []string{"documentChanged"}) {
		t.Errorf("delivery event %+v", e)
	}
}

// TestAuditTrailReaderChecksManage calls the audit reader itself, with no @shared directive in
// front of it (as a resolver that forgot one would): a member who may view a document but not
// manage it is refused, a folder it may not view does not exist for it, and an ADMIN reads.
func TestAuditTrailReaderChecksManage(t *testing.T) {
	t.Parallel()
	s := testserver.New(t)
	who := fLogins(t, s)
	as := func(token string) context.Context {
		p, err := s.App.Sessions.Authenticate(context.Background(), token, "")
		if err != nil {
			t.Fatal(err)
		}
		return access.NewContext(context.Background(), p)
	}
	var page struct {
		Documents struct {
			Nodes []struct {
				ID        string
				ViewerCan struct{ View, Manage bool }
			}
		}
	}
	fOK(t, s, who.Member, `{ documents(first: 50) { nodes { id viewerCan { view manage } } } }`, nil, &page)
	doc := ""
	for _, d := range page.Documents.Nodes {
		if d.ViewerCan.View && !d.ViewerCan.Manage {
			doc = d.ID
			break
		}
	}
	restricted := fFolders(t, s, who.Admin)["HR & Safety"]
	if doc == "" || restricted == "" {
		t.Fatalf("no demo document the member views without managing it (%q), or no restricted folder (%q)", doc, restricted)
	}

	if _, err := s.App.Audit.Trail(as(who.Member), doc, 5, ""); errs.KindOf(err) != errs.Forbidden {
		t.Errorf("a member's trail of a document it may only view: %v, want FORBIDDEN", err)
	}
	if _, err := s.App.Audit.Trail(as(who.Member), restricted, 5, ""); errs.KindOf(err) != errs.NotFound {
		t.Errorf("a member's trail of a restricted folder it may not view: %v, want NOT_FOUND", err)
	}
	if _, err := s.App.Audit.Trail(as(who.Member), storage.NewID(), 5, ""); errs.KindOf(err) != errs.NotFound {
		t.Errorf("a trail of an id that exists nowhere: %v, want NOT_FOUND", err)
	}
	p, err := s.App.Audit.Trail(as(who.Admin), doc, 5, "")
	if err != nil || len(p.Items) == 0 {
		t.Fatalf("the ADMIN's trail of the document: %v, %v", p, err)
	}
	for _, e := range p.Items {
		if e.ObjectID != doc {
			t.Errorf("the trail holds an event about %s", e.ObjectID)
		}
	}
}
