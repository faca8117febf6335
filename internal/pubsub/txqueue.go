package pubsub

import (
	"context"
	"errors"
	"sync"
)

var (
	// ErrNoTxQueue is returned by a local Publisher when the context carries no queue from
	// WithTxQueue: without one it could not tell when the transaction commits.
	ErrNoTxQueue = errors.New("pubsub: no transaction queue in context (wrap the transaction with WithTxQueue)")
	// ErrTxDone is returned when publishing on a queue whose transaction already ended.
	ErrTxDone = errors.New("pubsub: transaction already ended")
)

type txQueueKey struct{}

// txQueue holds work to run after a transaction commits. Resolvers of one operation may
// publish from parallel goroutines, hence the mutex.
type txQueue struct {
	mu     sync.Mutex
	parent *txQueue
	done   bool
	work   []func()
}

// WithTxQueue returns a context carrying a queue for work that must wait for a transaction
// to commit, and the two functions that end it: flush after commit, discard after rollback.
// Both are idempotent and only the first call of either counts, so the usual wiring in the
// transaction runner is:
//
//	ctx, flush, discard := pubsub.WithTxQueue(ctx)
//	defer discard() // rollback, error or panic
//	if err := db.RunInTx(ctx, opts, fn); err != nil {
//		return err
//	}
//	flush()
//
// The local Publisher (SQLite) needs it; the PostgreSQL Publisher ignores it, since
// PostgreSQL holds notifications until commit, so the runner can wire it unconditionally.
// A queue made inside another one stands for a savepoint: its flush moves the work to the
// outer queue, which delivers it when the outer transaction commits.
func WithTxQueue(ctx context.Context) (_ context.Context, flush, discard func()) {
	q := &txQueue{}
	q.parent, _ = ctx.Value(txQueueKey{}).(*txQueue)
	return context.WithValue(ctx, txQueueKey{}, q), q.flush, q.discard
}

func txQueueFrom(ctx context.Context) *txQueue {
	q, _ := ctx.Value(txQueueKey{}).(*txQueue)
	return q
}

func (q *txQueue) add(work ...func()) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.done {
		return ErrTxDone
	}
	q.work = append(q.work, work...)
	return nil
}

// take ends the queue and returns its work, or nil if it had already ended.
func (q *txQueue) take() []func() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.done {
		return nil
	}
	q.done = true
	work := q.work
	q.work = nil
	return work
}

func (q *txQueue) flush() {
	work := q.take()
	if q.parent != nil {
		// An outer transaction that ended before its savepoint was released cannot
		// commit this work any more, so dropping it is right.
		_ = q.parent.add(work...)
		return
	}
	for _, f := range work {
		f()
	}
}

func (q *txQueue) discard() { q.take() }
