package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/laatu/laatu/internal/access"
	"github.com/laatu/laatu/internal/database"
	"github.com/laatu/laatu/internal/httpx"
	"github.com/laatu/laatu/internal/storage"
	"github.com/laatu/laatu/internal/testdb"
)

// blockedAuditor returns an Auditor whose writer waits, at its first write, until release is
// closed, so that a test can queue flushes that the next write then takes together.
func blockedAuditor(t *testing.T, db *database.DB) (a *Auditor, stream *streamBuffer, entered <-chan struct{}, release chan struct{}) {
	t.Helper()
	in, release := make(chan struct{}, 1), make(chan struct{})
	a, stream = newAuditor(t, db, Options{Window: -1, beforeWrite: func() {
		select {
		case in <- struct{}{}:
			<-release
		default:
		}
	}})
	return a, stream, in, release
}

// waitQueued waits until n callers are queued for the writer.
func waitQueued(t *testing.T, a *Auditor, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); len(a.queue) < n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d callers queued", len(a.queue), n)
		}
	}
}

// releaseQueued waits until n flushes are queued behind the write that blockedAuditor holds,
// releases it, and checks that it (reporting on first) and the n flushes (on errc) succeed.
func releaseQueued(t *testing.T, a *Auditor, n int, release chan struct{}, first, errc <-chan error) {
	t.Helper()
	waitQueued(t, a, n)
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	for range n {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
}

// requestCtx is the context of one request of user in company from ip, inside an operation.
func requestCtx(user, company, ip, requestID string) context.Context {
	ctx := access.NewContext(context.Background(), &access.Principal{
		UserID: user, SessionID: newID(), CompanyID: company, Level: access.Member,
		Memberships: map[string]access.Level{company: access.Member},
	})
	ctx = httpx.NewContext(ctx, httpx.RequestInfo{ID: requestID, ClientIP: netip.MustParseAddr(ip), UserAgent: "agent/" + requestID})
	return WithOperation(ctx, Operation{Type: "query", Name: "Docs", Hash: strings.Repeat("0f", 32), RootFields: []string{"folders", "documents"}})
}

// The writer chains a batch after the ends of the chains it remembers, in one statement per
// batch whatever the mix of requests and companies in it, and what it wrote reads back as it
// was flushed and verifies.
func TestWriterChainsFromRememberedEnds(t *testing.T) {
	tdb := testdb.New(t)
	a, stream, entered, release := blockedAuditor(t, tdb.App)
	companies := []string{newID(), newID()}

	// The first write (which must read where the chains end) is held while the others queue.
	first := make(chan error, 1)
	go func() {
		first <- a.Record(requestCtx(newID(), companies[0], "192.0.2.1", "r0"),
			Event{CompanyID: companies[0], Action: ActionExport}, Event{CompanyID: companies[1], Action: ActionExport})
	}()
	<-entered
	type flushed struct {
		ctx     context.Context
		company string
		objects map[string][]string
	}
	var flushes []flushed
	for i := 0; i < 6; i++ {
		f := flushed{ctx: requestCtx(newID(), companies[i%2], fmt.Sprintf("192.0.2.%d", 10+i), fmt.Sprint("r", i+1)),
			company: companies[i%2], objects: map[string][]string{newID(): {"title", "values"}, newID(): {"name"}}}
		flushes = append(flushes, f)
	}
	errc := make(chan error, len(flushes))
	for _, f := range flushes {
		c := NewCollector()
		for id, fields := range f.objects {
			for _, field := range fields {
				c.Add(f.company, ObjectDocument, id, field)
			}
		}
		go func(ctx context.Context) { errc <- a.Flush(ctx, c) }(f.ctx)
	}
	releaseQueued(t, a, len(flushes), release, first, errc)
	// One more, which on PostgreSQL needs no read either.
	if err := a.Record(requestCtx(newID(), companies[1], "192.0.2.99", "r9"), Event{CompanyID: companies[1], Action: ActionExport}); err != nil {
		t.Fatal(err)
	}

	st := a.Stats()
	if st.Transactions != 3 || st.Events != 2+12+1 {
		t.Fatalf("stats %+v: want 3 transactions of 15 events", st)
	}
	if want := uint64(1); tdb.Dialect == database.Postgres && st.HeadReads != want {
		t.Fatalf("%d writes read the chains' ends, want %d (the first)", st.HeadReads, want)
	}
	// Each company: the first export, three flushes of two objects, and the last export.
	for c, want := range map[string]int64{companies[0]: 1 + 6, companies[1]: 1 + 6 + 1} {
		if r := mustVerify(t, tdb.App, c); !r.OK() || r.Events != want {
			t.Fatalf("chain %s: %v, want %d events", c, r, want)
		}
	}
	// Every flush reads back with its own request's context and its objects' fields.
	byObject := map[string]*Event{}
	for _, c := range companies {
		for _, e := range chain(t, tdb.Owner, c) {
			byObject[e.ObjectID] = e
		}
	}
	for _, f := range flushes {
		info, _ := httpx.FromContext(f.ctx)
		for id, fields := range f.objects {
			e := byObject[id]
			if e == nil {
				t.Fatalf("no event for object %s", id)
			}
			want := slices.Clone(fields)
			slices.Sort(want)
			if e.CompanyID != f.company || e.Action != ActionView || e.ClientIP != info.ClientIP.String() ||
				e.RequestID != info.ID || e.UserAgent != info.UserAgent || e.PrincipalKind != "MEMBER" ||
				!reflect.DeepEqual(e.RootFields, []string{"folders", "documents"}) || !reflect.DeepEqual(fieldNames(e.Fields), want) {
				t.Fatalf("event of %s read back as %+v", id, e)
			}
		}
	}
	if n := len(stream.lines(t)); n != 15 {
		t.Fatalf("%d stream lines, want 15", n)
	}
	// The chain outside any company takes the same path.
	for i := 0; i < 3; i++ {
		if err := a.Record(requestCtx(newID(), companies[0], "192.0.2.50", "login"), Event{CompanyID: NoCompany, Action: ActionLoginFailed}); err != nil {
			t.Fatal(err)
		}
	}
	if r := mustVerify(t, tdb.App, NoCompany); !r.OK() || r.Events != 3 {
		t.Fatalf("chain outside any company: %v", r)
	}
}

// Another writer extending a chain behind the Auditor's back makes its remembered end stale:
// the write collides with the primary key, rolls back whole, and is written again after the
// real end. Nothing is lost or doubled.
func TestWriterRecoversFromAStaleEnd(t *testing.T) {
	tdb := testdb.New(t)
	a, _ := newAuditor(t, tdb.App, Options{Window: -1})
	company := newID()
	ctx := userCtx(newID(), company, access.Member)
	record := func() {
		t.Helper()
		if err := a.Record(ctx, Event{CompanyID: company, Action: ActionExport}); err != nil {
			t.Fatal(err)
		}
	}
	record()
	record()
	// Another server's change, in a transaction of its own.
	err := tdb.App.RunInTx(context.Background(), nil, func(ctx context.Context, tx bun.Tx) error {
		if err := setCompany(ctx, tx, tdb.Dialect, company); err != nil {
			return err
		}
		return Append(ctx, tx, tdb.Dialect, &Event{CompanyID: company, Action: ActionUpdate, PrincipalKind: "SYSTEM"})
	})
	if err != nil {
		t.Fatal(err)
	}
	record()
	record()
	if r := mustVerify(t, tdb.App, company); !r.OK() || r.Events != 5 {
		t.Fatalf("chain: %v, want 5 intact events", r)
	}
	if st := a.Stats(); tdb.Dialect == database.Postgres && st.HeadReads != 2 {
		t.Fatalf("%d writes read the chain's end, want 2 (the first, the one after the change)", st.HeadReads)
	}
	// A change through the Auditor's own hook tells it where the chain now ends.
	hook := a.ChangeHook()
	var afterCommit []func()
	err = tdb.App.RunInTx(context.Background(), nil, func(ctx context.Context, tx bun.Tx) error {
		if err := setCompany(ctx, tx, tdb.Dialect, company); err != nil {
			return err
		}
		ch := storage.Change{Kind: storage.ChangeKind(ActionUpdate), CompanyID: company, ObjectType: ObjectDocument, ObjectID: newID()}
		return hook(access.AsSystem(ctx, company), tx, ch, func(f func()) { afterCommit = append(afterCommit, f) })
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range afterCommit {
		f()
	}
	record()
	if r := mustVerify(t, tdb.App, company); !r.OK() || r.Events != 7 {
		t.Fatalf("chain: %v, want 7 intact events", r)
	}
	if st := a.Stats(); tdb.Dialect == database.Postgres && st.HeadReads != 2 {
		t.Fatalf("%d writes read the chain's end after a change through the hook, want still 2", st.HeadReads)
	}
}

// On PostgreSQL the writer continues after the end it committed, not after what the table
// holds now: deleting the newest events (as the owner) leaves a gap that Verify reports, where
// re-reading the end would have hidden the deletion.
func TestWriterKeepsDeletedNewestEventsVisible(t *testing.T) {
	tdb := testdb.RequirePostgres(t)
	a, _ := newAuditor(t, tdb.App, Options{Window: -1})
	company := newID()
	recordN(t, a, company, 4, time.Now())
	tamper(t, tdb, fmt.Sprintf("DELETE FROM audit_events WHERE company_id = '%s' AND seq >= 3", company))
	recordN(t, a, company, 1, time.Now())
	r := mustVerify(t, tdb.App, company)
	if r.OK() || r.Problem.Kind != Deleted || r.Problem.Seq != 3 {
		t.Fatalf("after deleting the newest events: %v, want DELETED at seq 3", r)
	}
}

// Text that PostgreSQL would refuse or change (NUL, invalid UTF-8) is made storable before it
// is hashed, and quotes and backslashes pass through the SQL the writer writes: every such
// event verifies after its round trip, on both paths of the writer.
func TestOddTextVerifies(t *testing.T) {
	tdb := testdb.New(t)
	a, _ := newAuditor(t, tdb.App, Options{Window: -1})
	company := newID()
	odd := "it's \\ \"q\" <b>&</b> ä \u2028 \x00 \xff\xfe end"
	ctx := httpx.NewContext(userCtx(newID(), company, access.Member),
		httpx.RequestInfo{ID: odd, ClientIP: netip.MustParseAddr("192.0.2.7"), UserAgent: odd})
	ctx = WithOperation(ctx, Operation{Type: "query", Name: odd, Hash: "h", RootFields: []string{odd, "x'y"}})
	for i := 0; i < 2; i++ { // the first write reads the chain's end, the second does not
		if err := a.Record(ctx, Event{CompanyID: company, Action: ActionUpdate, ObjectType: ObjectDocument, ObjectID: odd,
			Fields: []Field{{Field: odd, Before: map[string]any{odd: odd}, After: []any{odd, 1.5}}}}); err != nil {
			t.Fatal(err)
		}
		c := NewCollector()
		c.Add(company, ObjectDocument, "doc'1", odd)
		c.Add(company, ObjectDocument, "doc'1", "title")
		if err := a.Flush(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if r := mustVerify(t, tdb.App, company); !r.OK() || r.Events != 4 {
		t.Fatalf("chain: %v", r)
	}
	clean := storable(odd)
	if strings.ContainsRune(clean, 0) || !strings.Contains(clean, "\uFFFD") || !strings.HasPrefix(clean, "it's \\ \"q\"") {
		t.Fatalf("storable(%q) = %q", odd, clean)
	}
	for _, e := range chain(t, tdb.Owner, company) {
		if e.UserAgent != clean || e.RequestID != clean || e.RootFields[0] != clean {
			t.Fatalf("read back %q, %q, %q; want %q", e.UserAgent, e.RequestID, e.RootFields[0], clean)
		}
	}
}

// appendCanonical writes, byte for byte, what encoding/json makes of the array the package
// doc defines, for plain and for awkward text.
func TestCanonicalIsEncodingJSON(t *testing.T) {
	reference := func(e *Event) []byte {
		norm, err := normalizeFields(e.Fields)
		if err != nil {
			t.Fatal(err)
		}
		var actor any
		if e.ActorID != nil {
			actor = *e.ActorID
		}
		b, err := json.Marshal([]any{encodingVersion, e.CompanyID, e.Seq, e.ID, e.OccurredAt.UTC().Format(timeLayout),
			e.RequestID, e.OperationType, e.OperationName, e.OperationHash, e.RootFields, actor, e.PrincipalKind,
			e.PrincipalLevel, e.GrantID, e.SessionID, e.ClientIP, e.UserAgent, e.Action, e.ObjectType, e.ObjectID,
			norm, e.PrevHash})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	texts := []string{"", "plain", "it's", `back\slash`, `"quoted"`, "<b>&amp;</b>", "tab\there", "nl\n", "\x01\x1f\x7f",
		"ä€😀", "\u2028\u2029", "\xff bad", "\x00"}
	actor := newID()
	for i, s := range texts {
		e := &Event{CompanyID: newID(), Seq: int64(i + 1), ID: newID(), OccurredAt: time.Now(), RequestID: s,
			OperationType: "query", OperationName: s, OperationHash: s, RootFields: []string{s, "b"}, PrincipalKind: s,
			GrantID: s, ClientIP: s, UserAgent: s, Action: ActionView, ObjectType: s, ObjectID: s, PrevHash: Genesis,
			Fields: []Field{{Field: s}, {Field: "email", Personal: true}}}
		if i%2 == 0 {
			e.ActorID = &actor
			e.Fields = append(e.Fields, Field{Field: "v", Before: s, After: map[string]any{s: []any{1, s}}})
		}
		got, err := e.canonical()
		if err != nil {
			t.Fatal(err)
		}
		if want := reference(e); string(got) != string(want) {
			t.Errorf("text %q:\n got %s\nwant %s", s, got, want)
		}
	}
	if got, _ := (&Event{}).canonical(); !strings.Contains(string(got), `,[],null,`) {
		t.Errorf("no root fields and no actor: %s", got)
	}
}

// The literals the writer writes mean the same whatever standard_conforming_strings says, so
// that a client's header cannot end one early.
func TestSQLStringLiterals(t *testing.T) {
	tdb := testdb.RequirePostgres(t)
	for _, setting := range []string{"on", "off"} {
		err := tdb.App.RunInTx(context.Background(), nil, func(ctx context.Context, tx bun.Tx) error {
			if _, err := tx.ExecContext(ctx, "SET LOCAL standard_conforming_strings = "+setting); err != nil {
				return err
			}
			for _, s := range []string{"", "plain", "it's", `back\slash`, `\'; DROP TABLE audit_events; --`, `\\''\`, "ä\u2028€"} {
				var got string
				if err := tx.QueryRowContext(ctx, "SELECT "+string(appendSQLString(nil, s))).Scan(&got); err != nil {
					return fmt.Errorf("%q: %w", s, err)
				}
				if got != s {
					t.Errorf("standard_conforming_strings %s: %q reads back as %q", setting, s, got)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// A batch of many one-event runs (a subscription's deliveries: one response each) is written
// in one transaction, one row per run, and chains and reads back as any other. (PostgreSQL once
// took seconds to plan such a batch written as one INSERT ... SELECT per run, joined by UNION
// ALL.)
func TestWriterManyRuns(t *testing.T) {
	tdb := testdb.New(t)
	a, _, entered, release := blockedAuditor(t, tdb.App)
	company := newID()
	first := make(chan error, 1)
	go func() {
		first <- a.Record(requestCtx(newID(), company, "192.0.2.1", "r0"), Event{CompanyID: company, Action: ActionExport})
	}()
	<-entered
	n := 50
	errc := make(chan error, n)
	objects := make([]string, n)
	for i := range n {
		objects[i] = newID()
		c := NewCollector()
		c.Add(company, ObjectDocument, objects[i], "title")
		go func(ctx context.Context) { errc <- a.Flush(ctx, c) }(requestCtx(newID(), company, "192.0.2.2", fmt.Sprint("r", i+1)))
	}
	releaseQueued(t, a, n, release, first, errc)
	if st := a.Stats(); st.Transactions != 2 {
		t.Fatalf("stats %+v: want the %d flushes in one transaction after the first", st, n)
	}
	if r := mustVerify(t, tdb.App, company); !r.OK() || r.Events != int64(1+n) {
		t.Fatalf("chain: %v, want %d events", r, 1+n)
	}
	seen := map[string]bool{}
	for _, e := range chain(t, tdb.Owner, company) {
		seen[e.ObjectID] = true
	}
	for _, id := range objects {
		if !seen[id] {
			t.Fatalf("no event for object %s", id)
		}
	}
}
