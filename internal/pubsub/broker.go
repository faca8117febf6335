// Package pubsub delivers "something changed" events from committed transactions to
// subscribers, for GraphQL subscriptions.
//
// Events carry ids only. A Publisher queues an event inside the writing transaction and it
// reaches subscribers only if that transaction commits. A Broker holds the subscriptions of
// one server instance and routes each event by its topic string; events for topics that no
// local subscriber listens to are dropped before their JSON is decoded.
//
// Two sources feed a Broker:
//   - NewPostgres: pg_notify inside the transaction, received by one lib/pq Listener per
//     Broker, so every server instance on the database sees every event. PostgreSQL itself
//     delivers notifications on commit and drops them on rollback.
//   - NewLocal: in-process, for the embedded SQLite store. Publish queues the event on a
//     per-transaction queue in the context (see WithTxQueue) and the transaction runner
//     hands the queue over after commit.
//
// A slow subscriber never blocks anyone: when its buffer is full, its subscription ends
// with ErrSlowConsumer.
package pubsub

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/rs/zerolog"
	"github.com/uptrace/bun"

	"github.com/laatu/laatu/internal/errs"
)

// DefaultBuffer is the subscription buffer used when Subscribe is given none.
const DefaultBuffer = 64

var (
	// ErrSlowConsumer ends a subscription whose buffer was full when an event arrived.
	// Its message is safe to show to the client.
	ErrSlowConsumer = errs.New(errs.RateLimited, "subscription ended: events arrived faster than they were read")
	// ErrClosed ends the subscriptions of a closed Broker, and refuses new ones.
	ErrClosed = errors.New("pubsub: broker closed")
)

// Publisher queues an event in the transaction tx. The event is delivered only if the
// transaction commits.
type Publisher interface {
	Publish(ctx context.Context, tx bun.IDB, ev Event) error
}

// StatementPublisher is a Publisher whose publishing is one SQL statement, which a writer may
// send with statements of its own in one round trip (PostgreSQL: pg_notify). The statement
// publishes when the transaction it runs in commits, like Publish.
type StatementPublisher interface {
	Publisher
	// Statement returns the statement that publishes ev, with a ? placeholder for each arg.
	Statement(ev Event) (query string, args []any, err error)
}

// Broker holds the subscriptions of one server instance and dispatches events to them.
// Create it with NewPostgres or NewLocal; it is safe for concurrent use.
type Broker struct {
	log zerolog.Logger

	mu     sync.RWMutex
	topics map[string]map[*Subscription]struct{}
	closed bool

	healthy atomic.Bool
	// decoded counts events decoded from the wire, so tests can prove that routing by
	// topic happens before decoding.
	decoded atomic.Int64
	// seq numbers dispatches (Event.Seq).
	seq atomic.Uint64

	// stop shuts the event source down and waits for it; nil for a local Broker.
	stop      func()
	closeOnce sync.Once
}

func newBroker(log zerolog.Logger) *Broker {
	return &Broker{
		log:    log.With().Str("component", "pubsub").Logger(),
		topics: make(map[string]map[*Subscription]struct{}),
	}
}

// Subscription receives the events of one topic until it ends. It ends when it is closed,
// when its context ends, when it falls behind (ErrSlowConsumer) or when the Broker closes
// (ErrClosed); C is then closed and Err says why.
type Subscription struct {
	b     *Broker
	topic string
	// ch carries pointers: one Event is shared by every subscription it is dispatched to,
	// which keeps each buffer small with thousands of subscriptions.
	ch   chan *Event
	done chan struct{}
	err  error       // written once, before done is closed
	stop func() bool // unregisters the context watch; set under b.mu
}

// Subscribe starts a subscription to topic with room for buffer undelivered events
// (DefaultBuffer when buffer < 1). The subscription ends when ctx ends.
func (b *Broker) Subscribe(ctx context.Context, topic string, buffer int) (*Subscription, error) {
	if err := validTopic(topic); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if buffer < 1 {
		buffer = DefaultBuffer
	}
	s := &Subscription{
		b:     b,
		topic: topic,
		ch:    make(chan *Event, buffer),
		done:  make(chan struct{}),
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, ErrClosed
	}
	set := b.topics[topic]
	if set == nil {
		set = make(map[*Subscription]struct{})
		b.topics[topic] = set
	}
	set[s] = struct{}{}
	// AfterFunc needs no goroutine per subscription while the context is alive. Its callback
	// takes b.mu, so it cannot see s.stop before this assignment.
	s.stop = context.AfterFunc(ctx, func() { b.end(s, context.Cause(ctx)) })
	return s, nil
}

// C returns the channel of events. It is closed when the subscription ends. The events are
// shared with the other subscriptions they were dispatched to: read them, never change them.
func (s *Subscription) C() <-chan *Event { return s.ch }

// Done is closed when the subscription ends.
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Err says why the subscription ended: nil while it runs and after Close, the context's
// cause after its context ended, ErrSlowConsumer or ErrClosed.
func (s *Subscription) Err() error {
	select {
	case <-s.done:
		return s.err
	default:
		return nil
	}
}

// Close ends the subscription. It is safe to call more than once.
func (s *Subscription) Close() { s.b.end(s, nil) }

// end removes s and closes its channel, once. Removal happens under the write lock, and
// dispatchers send only under the read lock, so no send can race with the close.
func (b *Broker) end(s *Subscription, err error) {
	b.mu.Lock()
	set := b.topics[s.topic]
	if _, found := set[s]; !found {
		b.mu.Unlock()
		return
	}
	delete(set, s)
	if len(set) == 0 {
		delete(b.topics, s.topic)
	}
	stop := s.stop
	s.finish(err)
	b.mu.Unlock()
	stop()
}

func (s *Subscription) finish(err error) {
	s.err = err
	close(s.ch)
	close(s.done)
}

// Healthy reports whether the Broker receives events: for PostgreSQL, whether its listener
// is connected. It is false after Close.
func (b *Broker) Healthy() bool { return b.healthy.Load() }

// Close stops the event source and ends every subscription with ErrClosed. It waits for the
// listener to stop, which can take up to the maximum reconnect interval while the database
// is unreachable. It is safe to call more than once.
func (b *Broker) Close() {
	b.closeOnce.Do(func() {
		b.mu.Lock()
		b.closed = true
		topics := b.topics
		b.topics = make(map[string]map[*Subscription]struct{})
		var stops []func() bool
		for _, set := range topics {
			for s := range set {
				stops = append(stops, s.stop)
				s.finish(ErrClosed)
			}
		}
		b.mu.Unlock()
		for _, stop := range stops {
			stop()
		}
		if b.stop != nil {
			b.stop()
		}
		b.healthy.Store(false)
	})
}

// hasSubscribers reports whether any local subscription listens to topic.
func (b *Broker) hasSubscribers(topic string) bool {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return len(b.topics[topic]) > 0
}

// dispatchPayload routes a wire payload. The topic is looked up before the body is decoded,
// so events of other tenants cost this instance a map lookup and nothing more.
func (b *Broker) dispatchPayload(payload string) {
	topic, body, ok := cutPayload(payload)
	if !ok {
		b.log.Warn().Int("bytes", len(payload)).Msg("dropped notification without a topic")
		return
	}
	if !b.hasSubscribers(topic) {
		return
	}
	ev, err := decodeBody(topic, body)
	if err != nil {
		b.log.Warn().Err(err).Msg("dropped undecodable notification")
		return
	}
	b.decoded.Add(1)
	b.dispatch(ev)
}

// dispatch hands ev to every subscription of its topic without blocking; the ones whose
// buffer is full are ended with ErrSlowConsumer.
func (b *Broker) dispatch(ev Event) {
	ev.Seq = b.seq.Add(1)
	var slow []*Subscription
	b.mu.RLock()
	for s := range b.topics[ev.Topic] {
		select {
		case s.ch <- &ev:
		default:
			slow = append(slow, s)
		}
	}
	b.mu.RUnlock()
	b.endSlow(slow)
}

// resyncAll tells every subscription that events may have been missed.
func (b *Broker) resyncAll() {
	var slow []*Subscription
	seq := b.seq.Add(1)
	b.mu.RLock()
	for topic, set := range b.topics {
		ev := &Event{Topic: topic, Kind: KindResync, Seq: seq}
		for s := range set {
			select {
			case s.ch <- ev:
			default:
				slow = append(slow, s)
			}
		}
	}
	b.mu.RUnlock()
	b.endSlow(slow)
}

func (b *Broker) endSlow(slow []*Subscription) {
	for _, s := range slow {
		b.end(s, ErrSlowConsumer)
	}
	if len(slow) > 0 {
		b.log.Warn().Int("subscriptions", len(slow)).Msg("ended slow subscriptions")
	}
}
