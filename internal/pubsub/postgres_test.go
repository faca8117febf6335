package pubsub

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestTwoInstances publishes through one database handle and receives on two Brokers, as
// two server instances on one database would.
func TestTwoInstances(t *testing.T) {
	dsn := testDSN(t)
	channel := uniqueName("laatu_test")
	b1, pub := newPGBroker(t, dsn, channel)
	b2, _ := newPGBroker(t, dsn, channel)
	db := openPGDB(t, dsn)
	topic := CompanyTopic("A")
	sub1 := subscribe(t, b1, topic, 4)
	sub2 := subscribe(t, b2, topic, 4)

	want := change(topic, "x")
	publish(t, db, pub, want)
	for _, s := range []*Subscription{sub1, sub2} {
		if got := recv(t, s); got != want {
			t.Fatalf("got %+v, want %+v", got, want)
		}
	}
}

// TestRoutesBeforeDecoding checks that an instance decodes only the events of topics it
// has subscribers for, while another instance still receives the rest.
func TestRoutesBeforeDecoding(t *testing.T) {
	dsn := testDSN(t)
	channel := uniqueName("laatu_test")
	bA, pub := newPGBroker(t, dsn, channel)
	bB, _ := newPGBroker(t, dsn, channel)
	db := openPGDB(t, dsn)
	a, bTopic := CompanyTopic("A"), CompanyTopic("B")
	subA := subscribe(t, bA, a, 4)
	subB := subscribe(t, bB, bTopic, 4)

	publish(t, db, pub, change(bTopic, "b1"), change(bTopic, "b2"), change(a, "a1"))

	// Notifications are dispatched in order, so once a1 is here both B events were seen.
	if got := recv(t, subA); got.ObjectID != "a1" {
		t.Fatalf("subscriber of A got %+v", got)
	}
	if n := bA.decoded.Load(); n != 1 {
		t.Fatalf("instance with subscribers of A only decoded %d events, want 1", n)
	}
	for _, want := range []string{"b1", "b2"} {
		if got := recv(t, subB); got.ObjectID != want {
			t.Fatalf("subscriber of B got %+v, want %s", got, want)
		}
	}
	if n := bB.decoded.Load(); n != 2 {
		t.Fatalf("instance with subscribers of B only decoded %d events, want 2", n)
	}
}

// TestReconnectResync kills the listener's connection and expects a RESYNC event, then
// normal delivery again.
func TestReconnectResync(t *testing.T) {
	dsn := testDSN(t)
	app := uniqueName("laatu_listener")
	b, pub := newPGBroker(t, withAppName(dsn, app), uniqueName("laatu_test"))
	db := openPGDB(t, dsn)
	topic := CompanyTopic("A")
	sub := subscribe(t, b, topic, 4)
	if !b.Healthy() {
		t.Fatal("broker not healthy after start")
	}

	// The select list runs only on rows that pass WHERE, so no other backend is touched.
	var killed []bool
	err := db.NewRaw(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = ?`, app).
		Scan(t.Context(), &killed)
	if err != nil {
		t.Fatal(err)
	}
	if len(killed) != 1 || !killed[0] {
		t.Fatalf("terminated %v listener connections, want one", killed)
	}

	if got, want := recv(t, sub), (Event{Topic: topic, Kind: KindResync}); got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	// pq reports the reconnection before it sends the nil notification behind RESYNC.
	if !b.Healthy() {
		t.Fatal("broker not healthy after reconnection")
	}
	want := change(topic, "after")
	publish(t, db, pub, want)
	if got := recv(t, sub); got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

// TestLargestEventPassesPostgres checks MaxPayload against pg_notify's real limit.
func TestLargestEventPassesPostgres(t *testing.T) {
	b, pub, db := openPostgres(t)
	topic := CompanyTopic("A")
	sub := subscribe(t, b, topic, 1)

	want := change(topic, "x")
	want.ObjectID = strings.Repeat("x", MaxPayload-len(mustEncode(t, want))+1)
	publish(t, db, pub, want)
	if got := recv(t, sub); got != want {
		t.Fatal("largest event changed on the way")
	}

	want.ObjectID += "x"
	if err := commit(t.Context(), db, pub, want); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
}

// TestNewPostgresFailsFast needs no database: nothing listens on port 1.
func TestNewPostgresFailsFast(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	start := time.Now()
	_, _, err := NewPostgres(ctx, "postgres://postgres@127.0.0.1:1/test?sslmode=disable&connect_timeout=5", "", testLogger(t))
	if err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v after %s, want a connection error", err, time.Since(start))
	}
}

func TestInvalidChannel(t *testing.T) {
	if _, err := NewPostgresPublisher(strings.Repeat("c", 64)); err == nil {
		t.Fatal("64-byte channel accepted")
	}
	if _, err := NewPostgresPublisher(""); err != nil {
		t.Fatalf("default channel: %v", err)
	}
}

// TestStatementJoinsAMessage sends the publishing statement along with others in one simple
// query, as the audit writer does: delivered intact when the message commits, never when a
// later statement of the message fails.
func TestStatementJoinsAMessage(t *testing.T) {
	b, pub, db := openPostgres(t)
	sp, ok := pub.(StatementPublisher)
	if !ok {
		t.Fatal("the PostgreSQL publisher makes no statement")
	}
	topic := AuditTopic("A")
	sub := subscribe(t, b, topic, 4)
	message := func(ev Event, tail string) error {
		query, args, err := sp.Statement(ev)
		if err != nil {
			return err
		}
		q := db.QueryGen().AppendQuery([]byte("SELECT 1;\n"), query, args...)
		_, err = db.ExecContext(t.Context(), string(append(q, ";\n"+tail...)))
		return err
	}
	lost := Event{Topic: topic, Kind: KindAudit, CompanyID: "A", ObjectID: "lost", ChainSeq: 1}
	if err := message(lost, "SELECT 1/0"); err == nil {
		t.Fatal("division by zero succeeded")
	}
	// Quotes, backslashes and the topic's newline survive the formatting.
	want := Event{Topic: topic, Kind: KindAudit, CompanyID: "A", ObjectID: `it's \n "x"`, ChainSeq: 2}
	if err := message(want, "SELECT 2"); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, sub); got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if _, ok := Publisher(localPublisher{}).(StatementPublisher); ok {
		t.Fatal("the local publisher claims a statement")
	}
}
