package pubsub

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	_ "github.com/lib/pq"
	"github.com/rs/zerolog"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
	"github.com/uptrace/bun/dialect/sqlitedialect"
	"go.uber.org/goleak"
	_ "modernc.org/sqlite"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// wait bounds every wait for an event; generous, since the machine is shared.
const wait = 10 * time.Second

var errRollback = errors.New("roll back")

// backend opens a Broker, its Publisher and a database to publish through.
type backend struct {
	name string
	open func(t *testing.T) (*Broker, Publisher, *bun.DB)
}

var backends = []backend{
	{"local", openLocal},
	{"postgres", openPostgres},
}

func openLocal(t *testing.T) (*Broker, Publisher, *bun.DB) {
	sqldb, err := sql.Open("sqlite", "file:"+uniqueName("pubsub")+"?mode=memory&cache=shared")
	if err != nil {
		t.Fatal(err)
	}
	db := bun.NewDB(sqldb, sqlitedialect.New())
	t.Cleanup(func() { _ = db.Close() })
	b, pub := NewLocal(testLogger(t))
	t.Cleanup(b.Close)
	return b, pub, db
}

func openPostgres(t *testing.T) (*Broker, Publisher, *bun.DB) {
	dsn := testDSN(t)
	b, pub := newPGBroker(t, dsn, uniqueName("laatu_test"))
	return b, pub, openPGDB(t, dsn)
}

// testDSN returns TEST_DATABASE_URL, skipping the test without it (the embedded-store run of
// .ci/run; its PostgreSQL run always sets it).
func testDSN(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv("TEST_DATABASE_URL")
	if dsn == "" {
		t.Skip("TEST_DATABASE_URL is not set")
	}
	return dsn
}

func newPGBroker(t *testing.T, dsn, channel string) (*Broker, Publisher) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	b, pub, err := NewPostgres(ctx, dsn, channel, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b, pub
}

func openPGDB(t *testing.T, dsn string) *bun.DB {
	t.Helper()
	sqldb, err := sql.Open("postgres", dsn)
	if err != nil {
		t.Fatal(err)
	}
	db := bun.NewDB(sqldb, pgdialect.New())
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func testLogger(t *testing.T) zerolog.Logger {
	return zerolog.New(zerolog.NewTestWriter(t))
}

// uniqueName is a fresh lower-case identifier, short enough for a channel name.
func uniqueName(prefix string) string {
	return prefix + "_" + strings.ToLower(rand.Text())
}

// withAppName sets application_name in a URL or key=value DSN.
func withAppName(dsn, app string) string {
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		q := u.Query()
		q.Set("application_name", app)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return dsn + " application_name=" + app
}

// runInTx is the wiring the transaction runner has to do: a queue per transaction,
// flushed after commit and discarded otherwise.
func runInTx(ctx context.Context, db *bun.DB, fn func(ctx context.Context, tx bun.Tx) error) error {
	ctx, flush, discard := WithTxQueue(ctx)
	defer discard()
	if err := db.RunInTx(ctx, nil, fn); err != nil {
		return err
	}
	flush()
	return nil
}

// commit publishes evs in one transaction.
func commit(ctx context.Context, db *bun.DB, pub Publisher, evs ...Event) error {
	return runInTx(ctx, db, func(ctx context.Context, tx bun.Tx) error {
		for _, ev := range evs {
			if err := pub.Publish(ctx, tx, ev); err != nil {
				return err
			}
		}
		return nil
	})
}

func publish(t *testing.T, db *bun.DB, pub Publisher, evs ...Event) {
	t.Helper()
	if err := commit(t.Context(), db, pub, evs...); err != nil {
		t.Fatal(err)
	}
}

func change(topic, id string) Event {
	return Event{
		Topic:      topic,
		Kind:       "UPDATED",
		CompanyID:  strings.TrimPrefix(topic, "company:"),
		ObjectType: "Document",
		ObjectID:   id,
		FolderID:   "folder-1",
	}
}

// recv returns the next event of s, failing when s ends or nothing comes in time.
func recv(t *testing.T, s *Subscription) Event {
	t.Helper()
	select {
	case ev, ok := <-s.C():
		if !ok {
			t.Fatalf("subscription ended: %v", s.Err())
		}
		if ev.Seq == 0 {
			t.Fatalf("event without a dispatch number: %+v", ev)
		}
		got := *ev
		got.Seq = 0 // compared by value below; TestSeqNumbersDispatches checks the numbers
		return got
	case <-time.After(wait):
		t.Fatalf("no event within %s", wait)
	}
	return Event{}
}

func subscribe(t *testing.T, b *Broker, topic string, buffer int) *Subscription {
	t.Helper()
	s, err := b.Subscribe(t.Context(), topic, buffer)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestPublishDeliversOnlyOnCommit(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			b, pub, db := be.open(t)
			topic := CompanyTopic("A")
			sub := subscribe(t, b, topic, 8)

			err := runInTx(t.Context(), db, func(ctx context.Context, tx bun.Tx) error {
				if err := pub.Publish(ctx, tx, change(topic, "rolled-back")); err != nil {
					return err
				}
				return errRollback
			})
			if !errors.Is(err, errRollback) {
				t.Fatalf("runInTx = %v, want %v", err, errRollback)
			}

			want := change(topic, "committed")
			err = runInTx(t.Context(), db, func(ctx context.Context, tx bun.Tx) error {
				if err := pub.Publish(ctx, tx, want); err != nil {
					return err
				}
				if n := len(sub.C()); n != 0 {
					return fmt.Errorf("%d events delivered before commit", n)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}

			// Events arrive in commit order, so the rolled-back one would come first.
			if got := recv(t, sub); got != want {
				t.Fatalf("got %+v, want %+v", got, want)
			}
		})
	}
}

func TestTopicRouting(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			b, pub, db := be.open(t)
			a, bTopic := CompanyTopic("A"), CompanyTopic("B")
			subA := subscribe(t, b, a, 8)
			subB := subscribe(t, b, bTopic, 8)

			publish(t, db, pub, change(a, "a1"), change(bTopic, "b1"), change(a, "a2"))

			for _, tc := range []struct {
				sub  *Subscription
				want []string
			}{
				{subA, []string{"a1", "a2"}},
				{subB, []string{"b1"}},
			} {
				for _, id := range tc.want {
					if got := recv(t, tc.sub); got.ObjectID != id || got.Topic != tc.sub.topic {
						t.Fatalf("%s: got %+v, want object %s", tc.sub.topic, got, id)
					}
				}
			}
		})
	}
}

func TestSlowConsumerDoesNotBlock(t *testing.T) {
	const n = 20
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			b, pub, db := be.open(t)
			topic := CompanyTopic("A")
			slow := subscribe(t, b, topic, 1)
			fast := subscribe(t, b, topic, n)

			evs := make([]Event, n)
			for i := range evs {
				evs[i] = change(topic, fmt.Sprint(i))
			}
			published := make(chan error, 1)
			go func() { published <- commit(t.Context(), db, pub, evs...) }()
			select {
			case err := <-published:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(wait):
				t.Fatal("publish blocked")
			}

			for i := range evs {
				if got := recv(t, fast); got != evs[i] {
					t.Fatalf("fast subscriber got %+v, want %+v", got, evs[i])
				}
			}
			select {
			case <-slow.Done():
			case <-time.After(wait):
				t.Fatal("slow subscription still open")
			}
			if !errors.Is(slow.Err(), ErrSlowConsumer) {
				t.Fatalf("slow.Err() = %v, want ErrSlowConsumer", slow.Err())
			}
			var buffered int
			for range slow.C() {
				buffered++
			}
			if buffered != 1 {
				t.Fatalf("slow subscription kept %d events, want 1", buffered)
			}
			if fast.Err() != nil {
				t.Fatalf("fast.Err() = %v", fast.Err())
			}
		})
	}
}

func TestFanOut(t *testing.T) {
	const n = 10_000
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			b, pub, db := be.open(t)
			topic := CompanyTopic("A")
			subs := make([]*Subscription, n)
			for i := range subs {
				subs[i] = subscribe(t, b, topic, 1)
			}

			start := time.Now()
			want := change(topic, "x")
			publish(t, db, pub, want)
			deadline := time.After(wait)
			for i, s := range subs {
				select {
				case ev := <-s.C():
					got := *ev
					got.Seq = 0
					if got != want {
						t.Fatalf("subscriber %d got %+v", i, got)
					}
				case <-deadline:
					t.Fatalf("subscriber %d got nothing within %s", i, wait)
				}
			}
			t.Logf("%d subscribers received in %s", n, time.Since(start))
		})
	}
}

func TestSeqNumbersDispatches(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			b, pub, db := be.open(t)
			topic := CompanyTopic("A")
			s1, s2 := subscribe(t, b, topic, 4), subscribe(t, b, topic, 4)
			publish(t, db, pub, change(topic, "x"))
			publish(t, db, pub, change(topic, "y"))
			next := func(s *Subscription) uint64 {
				t.Helper()
				select {
				case ev := <-s.C():
					return ev.Seq
				case <-time.After(wait):
					t.Fatalf("no event within %s", wait)
				}
				return 0
			}
			a1, a2 := next(s1), next(s1)
			b1, b2 := next(s2), next(s2)
			if a1 == 0 || a1 != b1 || a2 != b2 || a2 <= a1 {
				t.Fatalf("dispatch numbers %d,%d and %d,%d: want one number per dispatch, increasing", a1, a2, b1, b2)
			}
		})
	}
}
