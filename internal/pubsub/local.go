package pubsub

import (
	"context"
	"errors"

	"github.com/rs/zerolog"
	"github.com/uptrace/bun"
)

// NewLocal returns an in-process Broker and its Publisher, for the embedded SQLite store
// where one process is the whole server. The Publisher needs a context from WithTxQueue and
// delivers when the transaction runner calls flush after commit.
func NewLocal(log zerolog.Logger) (*Broker, Publisher) {
	b := newBroker(log)
	b.healthy.Store(true)
	return b, localPublisher{b: b}
}

type localPublisher struct{ b *Broker }

// Publish queues ev on the transaction queue in ctx. It encodes ev although nothing is sent
// over a wire, so that an event too large for PostgreSQL fails on SQLite too.
func (p localPublisher) Publish(ctx context.Context, tx bun.IDB, ev Event) error {
	if tx == nil {
		return errors.New("pubsub: publish without a transaction")
	}
	if _, err := ev.encode(); err != nil {
		return err
	}
	q := txQueueFrom(ctx)
	if q == nil {
		return ErrNoTxQueue
	}
	return q.add(func() { p.b.dispatch(ev) })
}
