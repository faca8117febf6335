package pubsub

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestEventEncoding(t *testing.T) {
	topic := CompanyTopic("A")
	full := change(topic, "x")
	// Size the object id so that the payload is exactly MaxPayload bytes.
	p, err := full.encode()
	if err != nil {
		t.Fatal(err)
	}
	largest := full
	largest.ObjectID = strings.Repeat("x", MaxPayload-len(p)+1)

	tests := []struct {
		name    string
		ev      Event
		wantErr error // nil: must encode; errAny: any error
	}{
		{"full", full, nil},
		{"largest", largest, nil},
		{"one byte too large", func() Event { e := largest; e.ObjectID += "x"; return e }(), ErrTooLarge},
		{"empty topic", Event{Kind: "UPDATED"}, errAny},
		{"newline in topic", Event{Topic: "company:A\nB", Kind: "UPDATED"}, errAny},
		{"NUL in topic", Event{Topic: "company:A\x00", Kind: "UPDATED"}, errAny},
		{"no kind", Event{Topic: topic}, errAny},
		{"reserved kind", Event{Topic: topic, Kind: KindResync}, errAny},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			payload, err := tc.ev.encode()
			if tc.wantErr != nil {
				if err == nil || (tc.wantErr != errAny && !errors.Is(err, tc.wantErr)) {
					t.Fatalf("encode error = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			if len(payload) > MaxPayload {
				t.Fatalf("payload of %d bytes", len(payload))
			}
			gotTopic, body, ok := cutPayload(payload)
			if !ok {
				t.Fatalf("payload %q has no topic", payload)
			}
			got, err := decodeBody(gotTopic, body)
			if err != nil || got != tc.ev {
				t.Fatalf("round trip = %+v, %v; want %+v", got, err, tc.ev)
			}
		})
	}
	if n := len(mustEncode(t, largest)); n != MaxPayload {
		t.Fatalf("largest payload is %d bytes, want %d", n, MaxPayload)
	}
}

var errAny = errors.New("any error")

func mustEncode(t *testing.T, ev Event) string {
	t.Helper()
	p, err := ev.encode()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSubscriptionEnds(t *testing.T) {
	tests := []struct {
		name    string
		end     func(b *Broker, s *Subscription, cancel context.CancelFunc)
		wantErr error
	}{
		{"closed", func(_ *Broker, s *Subscription, _ context.CancelFunc) { s.Close() }, nil},
		{"context ended", func(_ *Broker, _ *Subscription, cancel context.CancelFunc) { cancel() }, context.Canceled},
		{"broker closed", func(b *Broker, _ *Subscription, _ context.CancelFunc) { b.Close() }, ErrClosed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, _ := NewLocal(testLogger(t))
			defer b.Close()
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			s, err := b.Subscribe(ctx, CompanyTopic("A"), 1)
			if err != nil {
				t.Fatal(err)
			}
			if s.Err() != nil {
				t.Fatalf("Err() = %v on a running subscription", s.Err())
			}

			tc.end(b, s, cancel)
			if _, ok := <-s.C(); ok {
				t.Fatal("C() delivered an event, want closed")
			}
			<-s.Done()
			if !errors.Is(s.Err(), tc.wantErr) || (tc.wantErr == nil && s.Err() != nil) {
				t.Fatalf("Err() = %v, want %v", s.Err(), tc.wantErr)
			}
			if b.hasSubscribers(CompanyTopic("A")) {
				t.Fatal("ended subscription still registered")
			}
			s.Close() // idempotent
		})
	}
}

func TestSubscribeRefused(t *testing.T) {
	b, _ := NewLocal(testLogger(t))
	canceled, cancel := context.WithCancel(t.Context())
	cancel()

	if _, err := b.Subscribe(t.Context(), "", 1); err == nil {
		t.Error("empty topic accepted")
	}
	if _, err := b.Subscribe(canceled, CompanyTopic("A"), 1); !errors.Is(err, context.Canceled) {
		t.Errorf("ended context: err = %v", err)
	}
	if !b.Healthy() {
		t.Error("local broker not healthy")
	}
	b.Close()
	if _, err := b.Subscribe(t.Context(), CompanyTopic("A"), 1); !errors.Is(err, ErrClosed) {
		t.Errorf("closed broker: err = %v, want ErrClosed", err)
	}
	if b.Healthy() {
		t.Error("closed broker healthy")
	}
}

func TestLocalPublishNeedsTxQueue(t *testing.T) {
	b, pub, db := openLocal(t)
	sub := subscribe(t, b, CompanyTopic("A"), 4)
	ev := change(CompanyTopic("A"), "x")

	if err := pub.Publish(t.Context(), db, ev); !errors.Is(err, ErrNoTxQueue) {
		t.Fatalf("without queue: err = %v, want ErrNoTxQueue", err)
	}
	ctx, flush, _ := WithTxQueue(t.Context())
	flush()
	if err := pub.Publish(ctx, db, ev); !errors.Is(err, ErrTxDone) {
		t.Fatalf("after flush: err = %v, want ErrTxDone", err)
	}
	if n := len(sub.C()); n != 0 {
		t.Fatalf("%d events delivered", n)
	}
}

// TestTxQueueSavepoint checks that a nested queue behaves like a savepoint: released work
// waits for the outer commit, rolled-back work is dropped.
func TestTxQueueSavepoint(t *testing.T) {
	b, pub, db := openLocal(t)
	topic := CompanyTopic("A")
	sub := subscribe(t, b, topic, 4)

	outer, flush, discard := WithTxQueue(t.Context())
	defer discard()
	mustPublish := func(ctx context.Context, id string) {
		t.Helper()
		if err := pub.Publish(ctx, db, change(topic, id)); err != nil {
			t.Fatal(err)
		}
	}
	mustPublish(outer, "outer")
	released, release, _ := WithTxQueue(outer)
	mustPublish(released, "released")
	release()
	rolledBack, _, rollback := WithTxQueue(outer)
	mustPublish(rolledBack, "rolled-back")
	rollback()

	if n := len(sub.C()); n != 0 {
		t.Fatalf("%d events delivered before the outer commit", n)
	}
	flush()
	for _, want := range []string{"outer", "released"} {
		if got := recv(t, sub); got.ObjectID != want {
			t.Fatalf("got %s, want %s", got.ObjectID, want)
		}
	}
	if n := len(sub.C()); n != 0 {
		t.Fatalf("%d unexpected events", n)
	}
}
