package audit

import (
	"context"
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/uptrace/bun"

	"github.com/laatu/laatu/internal/access"
	"github.com/laatu/laatu/internal/testdb"
)

// Concurrent callers share transactions, every event becomes durable, and the chains stay
// whole, also with change-hook style appends to the same companies running beside them.
func TestGroupCommit(t *testing.T) {
	tdb := testdb.New(t)
	a, stream := newAuditor(t, tdb.App, Options{Window: 5 * time.Millisecond})
	companies := []string{newID(), newID(), newID()}
	const callers, direct = 60, 10

	var wg sync.WaitGroup
	errc := make(chan error, callers+direct)
	for i := 0; i < callers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c := companies[i%len(companies)]
			errc <- a.Record(userCtx(newID(), c, access.Member), Event{CompanyID: c, Action: ActionExport, ObjectType: ObjectFolder, ObjectID: newID()})
		}(i)
	}
	// Appends inside transactions of their own, as the change hook makes them.
	for i := 0; i < direct; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c := companies[i%len(companies)]
			errc <- tdb.App.RunInTx(context.Background(), nil, func(ctx context.Context, tx bun.Tx) error {
				if err := setCompany(ctx, tx, tdb.Dialect, c); err != nil {
					return err
				}
				return Append(ctx, tx, tdb.Dialect, &Event{CompanyID: c, Action: ActionUpdate, PrincipalKind: "SYSTEM"})
			})
		}(i)
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			t.Fatalf("append: %v", err)
		}
	}

	st := a.Stats()
	if st.Events != callers {
		t.Fatalf("writer wrote %d events, want %d", st.Events, callers)
	}
	if st.Transactions >= callers {
		t.Fatalf("%d calls took %d transactions: no batching", callers, st.Transactions)
	}
	t.Logf("%d calls in %d transactions", callers, st.Transactions)
	total := int64(0)
	for _, c := range companies {
		r := mustVerify(t, tdb.App, c)
		if !r.OK() {
			t.Fatalf("chain after concurrent appends: %v", r)
		}
		total += r.Events
	}
	if total != callers+direct {
		t.Fatalf("%d events in the chains, want %d", total, callers+direct)
	}
	// The stream carries the writer's events (the direct appends are not the Auditor's).
	if n := len(stream.lines(t)); n != callers {
		t.Fatalf("%d stream lines, want %d", n, callers)
	}
}

// A full queue makes callers wait, and give up when their context ends; what was handed over
// is still written, and nothing is written for a caller that gave up before handing over.
func TestBackpressure(t *testing.T) {
	tdb := testdb.New(t)
	entered, release := make(chan struct{}, 8), make(chan struct{})
	a, _ := newAuditor(t, tdb.App, Options{QueueSize: 1, Window: -1, beforeWrite: func() {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-release
	}})
	company := newID()
	ctx := userCtx(newID(), company, access.Member)
	ev := Event{CompanyID: company, Action: ActionView}

	first := make(chan error, 1)
	go func() { first <- a.Record(ctx, ev) }()
	<-entered // the writer holds the first event and is blocked

	// The second fills the queue and waits for the writer until its context ends.
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := a.Record(short, ev); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second: %v, want deadline exceeded", err)
	}
	// The third finds the queue full and cannot even hand over.
	short, cancel = context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	began := time.Now()
	if err := a.Record(short, ev); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("third: %v, want deadline exceeded", err)
	}
	if waited := time.Since(began); waited < 40*time.Millisecond {
		t.Fatalf("third returned after %v without waiting for room", waited)
	}

	close(release)
	if err := <-first; err != nil {
		t.Fatalf("first: %v", err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	// First and second were written; the third never entered the queue.
	if r := mustVerify(t, tdb.App, company); !r.OK() || r.Events != 2 {
		t.Fatalf("after release: %v, want 2 events", r)
	}
	if err := a.Record(ctx, ev); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v, want ErrClosed", err)
	}
}

// When the database fails, every waiter of the batch gets the error: fail closed.
func TestWriteFailureReachesEveryWaiter(t *testing.T) {
	tdb := testdb.New(t)
	a, stream := newAuditor(t, tdb.App, Options{Window: 20 * time.Millisecond})
	if err := tdb.App.Close(); err != nil {
		t.Fatal(err)
	}
	company := newID()
	var wg sync.WaitGroup
	errc := make(chan error, 5)
	for i := 0; i < 5; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := NewCollector()
			c.Add(company, ObjectDocument, newID(), "title")
			errc <- a.Flush(userCtx(newID(), company, access.Member), c)
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		if err == nil {
			t.Fatal("a flush succeeded on a closed database")
		}
	}
	if n := len(stream.lines(t)); n != 0 {
		t.Fatalf("%d stream lines for events that were not written", n)
	}
}

// Close writes what is queued before it returns.
func TestCloseDrains(t *testing.T) {
	tdb := testdb.New(t)
	entered, release := make(chan struct{}, 8), make(chan struct{})
	a, _ := newAuditor(t, tdb.App, Options{Window: -1, beforeWrite: func() {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-release
	}})
	company := newID()
	ctx := userCtx(newID(), company, access.Member)
	const n = 10
	errc := make(chan error, n)
	go func() { errc <- a.Record(ctx, Event{CompanyID: company, Action: ActionView}) }()
	<-entered // the writer is busy with the first; the others queue up
	for i := 1; i < n; i++ {
		go func() { errc <- a.Record(ctx, Event{CompanyID: company, Action: ActionView}) }()
	}
	waitQueued(t, a, n-1)
	closed := make(chan error, 1)
	go func() { closed <- a.Close() }()
	close(release)
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if err := <-errc; err != nil {
			t.Fatalf("queued caller: %v", err)
		}
	}
	if r := mustVerify(t, tdb.App, company); !r.OK() || r.Events != n {
		t.Fatalf("after Close: %v, want %d events", r, n)
	}
}

// BenchmarkFlush measures view flushes through the group committer: each operation flushes
// the views of 5 objects with 3 fields each. Run with -cpu to vary the concurrency, and
// AUDIT_BENCH_WINDOW to try another gathering window (e.g. -1ns: take only what is queued):
//
//	TEST_DATABASE_URL=... go test -run '^$' -bench Flush -cpu 1,8,32 ./internal/audit/
func BenchmarkFlush(b *testing.B) {
	tdb := testdb.New(b)
	a := New(tdb.App, nil, Options{Window: benchWindow})
	defer a.Close()
	company := newID()
	ctx := userCtx(newID(), company, access.Member)
	objects := []string{newID(), newID(), newID(), newID(), newID()}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c := NewCollector()
			for _, o := range objects {
				for _, f := range []string{"title", "values", "owner"} {
					c.Add(company, ObjectDocument, o, f)
				}
			}
			if err := a.Flush(ctx, c); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	st := a.Stats()
	b.ReportMetric(float64(st.Events)/float64(max(st.Transactions, 1)), "events/tx")
}

// benchWindow is the committer's window in BenchmarkFlush; zero means the default.
var benchWindow = func() time.Duration {
	d, _ := time.ParseDuration(os.Getenv("AUDIT_BENCH_WINDOW"))
	return d
}()

// With Linger, the writer commits a lone response at once, and waits for responses still
// being computed, so that their views share one transaction; one that ends without views
// releases the wait as well.
func TestLingerWaitsOnlyForPendingResponses(t *testing.T) {
	tdb := testdb.New(t)
	// taken tells when the writer takes a batch; early records a commit made while the
	// response without views was still under way, which the writer must wait for.
	taken := make(chan struct{}, 8)
	var responding, early atomic.Bool
	a, _ := newAuditor(t, tdb.App, Options{Window: -1, Linger: time.Minute,
		taken:       func() { taken <- struct{}{} },
		beforeWrite: func() { early.Store(early.Load() || responding.Load()) }})
	company := newID()
	ctx := userCtx(newID(), company, access.Member)
	view := func(ctx context.Context) *graphql.Response {
		CollectorFrom(ctx).Add(company, ObjectDocument, newID(), "title")
		return &graphql.Response{}
	}

	// Alone: nothing to wait for.
	began := time.Now()
	if _, err := a.Scope(ctx, view); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(began); waited > 10*time.Second {
		t.Fatalf("a lone response waited %v", waited)
	}

	// Two responses with views and one without are under way; the first to flush waits for
	// the others, and both views go in one transaction.
	release, noViews := make(chan struct{}), make(chan struct{})
	started := make(chan struct{}, 2)
	errc := make(chan error, 3)
	go func() {
		_, err := a.Scope(ctx, func(ctx context.Context) *graphql.Response {
			started <- struct{}{}
			<-noViews
			return &graphql.Response{}
		})
		errc <- err
	}()
	go func() {
		_, err := a.Scope(ctx, func(ctx context.Context) *graphql.Response {
			started <- struct{}{}
			<-release
			return view(ctx)
		})
		errc <- err
	}()
	<-started
	<-started
	before := a.Stats()
	drain(taken) // the lone response's batch
	responding.Store(true)
	go func() { _, err := a.Scope(ctx, view); errc <- err }()
	<-taken // the first flush is taken, and the writer lingers for the two still under way
	close(release)
	<-taken // the second has joined; the writer still waits for the one without views
	if st := a.Stats(); st.Transactions != before.Transactions {
		t.Fatalf("committed while a response was under way: %+v", st)
	}
	responding.Store(false)
	close(noViews)
	for i := 0; i < 3; i++ {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	if early.Load() {
		t.Fatal("the writer committed before the response without views ended")
	}
	if st := a.Stats(); st.Transactions != before.Transactions+1 || st.Events != before.Events+2 {
		t.Fatalf("after: %+v, before: %+v; want one transaction of two events", st, before)
	}
	if r := mustVerify(t, tdb.App, company); !r.OK() || r.Events != 3 {
		t.Fatalf("chain: %v, want 3 events", r)
	}
}

// drain empties c of what is already in it.
func drain(c chan struct{}) {
	for {
		select {
		case <-c:
		default:
			return
		}
	}
}

// Below LingerPending responses under way, the writer does not wait for them.
func TestLingerPendingThreshold(t *testing.T) {
	tdb := testdb.New(t)
	a, _ := newAuditor(t, tdb.App, Options{Window: -1, Linger: time.Minute, LingerPending: 3})
	company := newID()
	ctx := userCtx(newID(), company, access.Member)
	release, started := make(chan struct{}), make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		_, err := a.Scope(ctx, func(ctx context.Context) *graphql.Response {
			close(started)
			<-release
			return &graphql.Response{}
		})
		errc <- err
	}()
	<-started
	// Two responses under way (this one and the blocked one): fewer than three.
	began := time.Now()
	_, err := a.Scope(ctx, func(ctx context.Context) *graphql.Response {
		CollectorFrom(ctx).Add(company, ObjectDocument, newID(), "title")
		return &graphql.Response{}
	})
	if err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(began); waited > 10*time.Second {
		t.Fatalf("the writer lingered %v for one other response", waited)
	}
	close(release)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}
