package audit

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/uptrace/bun"

	"github.com/laatu/laatu/internal/access"
	"github.com/laatu/laatu/internal/database"
	"github.com/laatu/laatu/internal/errs"
	"github.com/laatu/laatu/internal/pubsub"
	"github.com/laatu/laatu/internal/storage"
	"github.com/laatu/laatu/internal/testdb"
)

// broker returns the broker and publisher a server would use over tdb: PostgreSQL's
// LISTEN/NOTIFY, or in-process on SQLite.
func broker(t testing.TB, tdb *testdb.DB) (*pubsub.Broker, pubsub.Publisher) {
	t.Helper()
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	if tdb.Dialect != database.Postgres {
		b, pub := pubsub.NewLocal(log)
		t.Cleanup(b.Close)
		return b, pub
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, pub, err := pubsub.NewPostgres(ctx, tdb.AppURL, "", log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b, pub
}

// notices collects what a broker subscription receives until quiet passes without anything.
func notices(t *testing.T, s *pubsub.Subscription, quiet time.Duration) []pubsub.Event {
	t.Helper()
	var out []pubsub.Event
	for {
		select {
		case ev, ok := <-s.C():
			if !ok {
				t.Fatalf("subscription ended: %v", s.Err())
			}
			out = append(out, *ev)
		case <-time.After(quiet):
			return out
		}
	}
}

// change writes one change through the change hook in a transaction of its own, as storage
// does, and rolls it back when fail is set.
func change(t *testing.T, tdb *testdb.DB, a *Auditor, ctx context.Context, company string, fail bool) {
	t.Helper()
	var after []func()
	errRollback := errors.New("roll back")
	err := tdb.App.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if err := setCompany(ctx, tx, tdb.Dialect, company); err != nil {
			return err
		}
		ch := storage.Change{Kind: storage.ChangeUpdated, CompanyID: company, ObjectType: ObjectDocument, ObjectID: newID()}
		if err := a.ChangeHook()(ctx, tx, ch, func(f func()) { after = append(after, f) }); err != nil {
			return err
		}
		if fail {
			return errRollback
		}
		return nil
	})
	if fail != errors.Is(err, errRollback) {
		t.Fatalf("change: %v", err)
	}
	if err == nil {
		for _, f := range after {
			f()
		}
	}
}

// Every commit to a company's chain is announced once on its audit topic, with the seq and id
// of the last event it appended: group commits (first reading where the chain ends, then from
// memory) and changes alike; rollbacks and events outside any company are not.
func TestNotices(t *testing.T) {
	tdb := testdb.New(t)
	b, pub := broker(t, tdb)
	a, _ := newAuditor(t, tdb.App, Options{Window: -1, Publisher: pub})
	company, other := newID(), newID()
	sub, err := b.Subscribe(t.Context(), pubsub.AuditTopic(company), 64)
	if err != nil {
		t.Fatal(err)
	}
	none, err := b.Subscribe(t.Context(), pubsub.AuditTopic(NoCompany), 64)
	if err != nil {
		t.Fatal(err)
	}
	ctx := userCtx(newID(), company, access.Member)
	view := func(c string) Event {
		return Event{CompanyID: c, Action: ActionView, ObjectType: ObjectDocument, ObjectID: newID()}
	}
	// One batch of three events, twice (the second chains from memory on PostgreSQL), one
	// of them with another company's event in it.
	for range 2 {
		if err := a.Record(ctx, view(company), view(company), view(company)); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Record(ctx, view(other), view(company)); err != nil {
		t.Fatal(err)
	}
	change(t, tdb, a, ctx, company, false)
	change(t, tdb, a, ctx, company, true)
	change(t, tdb, a, ctx, company, false)
	if err := a.Record(ctx, Event{CompanyID: NoCompany, Action: ActionLogin, ObjectType: "USER", ObjectID: newID()}); err != nil {
		t.Fatal(err)
	}

	events := chain(t, tdb.App, company)
	if len(events) != 9 {
		t.Fatalf("%d events in the chain, want 9", len(events))
	}
	var got []int64
	for _, n := range notices(t, sub, 500*time.Millisecond) {
		if n.Kind != pubsub.KindAudit || n.CompanyID != company {
			t.Fatalf("notice %+v", n)
		}
		if e := events[n.ChainSeq-1]; n.ObjectID != e.ID {
			t.Fatalf("notice %+v names event %s, not %s at that seq", n, n.ObjectID, e.ID)
		}
		got = append(got, n.ChainSeq)
	}
	if want := []int64{3, 6, 7, 8, 9}; !equal(got, want) {
		t.Fatalf("notices up to seqs %v, want %v", got, want)
	}
	if n := notices(t, none, 50*time.Millisecond); len(n) != 0 {
		t.Fatalf("events outside any company were announced: %+v", n)
	}
}

func equal(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A tail records its start once, hands over only what follows it, in order, each once, under
// its filter, and refuses anyone but an ADMIN of the company.
func TestTail(t *testing.T) {
	tdb := testdb.New(t)
	_, pub := broker(t, tdb)
	a, _ := newAuditor(t, tdb.App, Options{Window: -1, Publisher: pub})
	company, other := newID(), newID()
	admin, member := newID(), newID()
	adminCtx := userCtx(admin, company, access.Admin)
	memberCtx := userCtx(member, company, access.Member)
	recordN(t, a, company, 3, time.Now())

	now := time.Now()
	if _, err := a.NewTail(company, Filter{From: &now}); errs.KindOf(err) != errs.BadUserInput {
		t.Fatalf("tail from a time: %v", err)
	}
	if _, err := a.NewTail("not an id", Filter{}); errs.KindOf(err) != errs.Forbidden {
		t.Fatalf("tail of a bad id: %v", err)
	}
	denied, err := a.NewTail(company, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if err := denied.Begin(memberCtx); errs.KindOf(err) != errs.Forbidden {
		t.Fatalf("a member began a tail: %v", err)
	}
	if err := denied.Begin(userCtx(admin, other, access.Admin)); errs.KindOf(err) != errs.Forbidden {
		t.Fatalf("an admin of another company began a tail: %v", err)
	}
	if n := len(chain(t, tdb.App, company)); n != 3 {
		t.Fatalf("refused tails recorded something: %d events", n)
	}

	tail, err := a.NewTail(company, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tail.Next(adminCtx, pubsub.Event{Kind: pubsub.KindResync}); err == nil {
		t.Fatal("a tail handed over events before it began")
	}
	if err := tail.Begin(adminCtx); err != nil {
		t.Fatal(err)
	}
	events := chain(t, tdb.App, company)
	start := events[len(events)-1]
	if len(events) != 4 || start.Action != ActionView || start.ObjectType != ObjectAuditLog || start.ObjectID != company ||
		len(start.Fields) != 1 || start.Fields[0].Field != FieldTail || start.ActorID == nil || *start.ActorID != admin ||
		start.ClientIP != "192.0.2.7" {
		t.Fatalf("start recorded as %+v", start)
	}
	at := func(seq int64) pubsub.Event {
		return pubsub.Event{Topic: tail.Topic(), Kind: pubsub.KindAudit, CompanyID: company, ChainSeq: seq}
	}
	next := func(ev pubsub.Event) []int64 {
		t.Helper()
		evs, err := tail.Next(adminCtx, ev)
		if err != nil {
			t.Fatal(err)
		}
		var seqs []int64
		for _, e := range evs {
			if e.CompanyID != company {
				t.Fatalf("event of %s in the tail of %s", e.CompanyID, company)
			}
			seqs = append(seqs, e.Seq)
		}
		return seqs
	}
	if got := next(at(4)); len(got) != 0 {
		t.Fatalf("the tail handed over its own start or older events: %v", got)
	}

	doc := newID()
	if err := a.Record(memberCtx, Event{CompanyID: company, Action: ActionView, ObjectType: ObjectDocument, ObjectID: doc},
		Event{CompanyID: company, Action: ActionUpdate, ObjectType: ObjectDocument, ObjectID: newID()}); err != nil {
		t.Fatal(err)
	}
	recordN(t, a, other, 2, time.Now())
	if got := next(at(6)); !equal(got, []int64{5, 6}) {
		t.Fatalf("after two events: %v", got)
	}
	if got := next(at(6)); len(got) != 0 {
		t.Fatalf("the same notice again: %v", got)
	}
	if got := next(pubsub.Event{Kind: pubsub.KindAudit, CompanyID: other, ChainSeq: 99}); len(got) != 0 {
		t.Fatalf("another company's notice: %v", got)
	}
	// A lost notice: the next one, or RESYNC, hands the events over all the same.
	recordN(t, a, company, 1, time.Now())
	recordN(t, a, company, 1, time.Now())
	if got := next(pubsub.Event{Kind: pubsub.KindResync}); !equal(got, []int64{7, 8}) {
		t.Fatalf("after RESYNC: %v", got)
	}

	// A filtered tail hands over what matches, and does not read again what did not.
	views, err := a.NewTail(company, Filter{Action: ActionView, ObjectID: doc})
	if err != nil {
		t.Fatal(err)
	}
	if err := views.Begin(adminCtx); err != nil {
		t.Fatal(err)
	}
	if err := a.Record(memberCtx, Event{CompanyID: company, Action: ActionView, ObjectType: ObjectDocument, ObjectID: newID()},
		Event{CompanyID: company, Action: ActionView, ObjectType: ObjectDocument, ObjectID: doc}); err != nil {
		t.Fatal(err)
	}
	evs, err := views.Next(adminCtx, at(11))
	if err != nil || len(evs) != 1 || evs[0].Seq != 11 || evs[0].ObjectID != doc || evs[0].ClientIP != "192.0.2.7" {
		t.Fatalf("filtered tail: %v, %+v", err, evs)
	}
	if views.last != 11 {
		t.Fatalf("filtered tail stands at %d, want 11", views.last)
	}

	// Demoted: refused at the next notice.
	if _, err := tail.Next(memberCtx, at(11)); errs.KindOf(err) != errs.Forbidden {
		t.Fatalf("a member read the tail: %v", err)
	}
}

// A tail that finds more than it may hand over at once ends instead of holding them all.
func TestTailTooFarBehind(t *testing.T) {
	tdb := testdb.New(t)
	a, _ := newAuditor(t, tdb.App, Options{Window: -1})
	company := newID()
	ctx := userCtx(newID(), company, access.Admin)
	tail, err := a.NewTail(company, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if err := tail.Begin(ctx); err != nil {
		t.Fatal(err)
	}
	tail.behind = 4
	recordN(t, a, company, 4, time.Now())
	if evs, err := tail.Next(ctx, pubsub.Event{Kind: pubsub.KindResync}); err != nil || len(evs) != 4 {
		t.Fatalf("as many as it may: %d events, %v", len(evs), err)
	}
	recordN(t, a, company, 5, time.Now())
	if _, err := tail.Next(ctx, pubsub.Event{Kind: pubsub.KindResync}); !errors.Is(err, ErrTailBehind) {
		t.Fatalf("err = %v, want ErrTailBehind", err)
	}
}
