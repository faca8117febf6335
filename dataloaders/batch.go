package dataloaders

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// ErrNotFound is the error of a key that the fetch left out of its result: no such object, or
// one the caller may not see.
var ErrNotFound = errors.New("dataloaders: not found")

// The batching window. A batch goes to the database once its request has been quiet for gap —
// no key joined the batch and no field of the request started or ended — and at the latest
// max after its first key. Resolvers of one level run in parallel goroutines and ask within
// microseconds of each other on an idle machine, so a batch leaves about gap after the level's
// last resolver asked; on a busy one, where the scheduler spreads them out, the window
// stretches for as long as the request makes progress, instead of splitting the level into
// several statements as a fixed wait does.
const (
	gap = 200 * time.Microsecond
	max = 5 * time.Millisecond
)

// Activity is when a request last made progress: the field middleware (Loaders.Active) marks
// it, and the request's loaders wait while it is recent.
type Activity struct{ last atomic.Int64 }

// mark records progress now.
func (a *Activity) mark() { a.last.Store(time.Now().UnixNano()) }

// since is how long the request has been quiet at now.
func (a *Activity) since(now time.Time) time.Duration {
	if a == nil {
		return time.Duration(1<<63 - 1)
	}
	return now.Sub(time.Unix(0, a.last.Load()))
}

// batchCapacity is the most keys fetched at once; a full batch leaves at once.
const batchCapacity = 500

// Loader batches and caches the loads of one request. It is vikstrous/dataloadgen's mapped
// loader with an adaptive window (see gap and max) in place of its fixed wait: results follow
// keys, not database order; a key missing from the result is ErrNotFound; the fetch runs with
// the context of the batch's first caller, so it may read only request-wide values from it.
type Loader[K comparable, V any] struct {
	fetch    func(context.Context, []K) (map[K]V, error)
	activity *Activity
	// gap, max and capacity are the package's constants except in tests.
	gap, max time.Duration
	capacity int

	mu    sync.Mutex
	cache map[K]*result[V]
	open  *batch[K, V]
}

// NewLoader returns a loader over fetch whose batches wait while activity (which may be nil)
// is recent.
func NewLoader[K comparable, V any](activity *Activity, fetch func(context.Context, []K) (map[K]V, error)) *Loader[K, V] {
	return &Loader[K, V]{fetch: fetch, activity: activity, gap: gap, max: max, capacity: batchCapacity, cache: map[K]*result[V]{}}
}

type result[V any] struct {
	done chan struct{}
	v    V
	err  error
}

type batch[K comparable, V any] struct {
	ctx         context.Context
	keys        []K
	results     []*result[V]
	first, last time.Time
	timer       *time.Timer
}

// Load returns the value of key, fetching it with the other keys asked for meanwhile.
func (l *Loader[K, V]) Load(ctx context.Context, key K) (V, error) {
	l.mu.Lock()
	r, ok := l.cache[key]
	if !ok {
		r = &result[V]{done: make(chan struct{})}
		l.cache[key] = r
		now := time.Now()
		b := l.open
		if b == nil {
			b = &batch[K, V]{ctx: ctx, first: now}
			l.open = b
			b.timer = time.AfterFunc(min(l.gap, l.max), func() { l.expire(b) })
		}
		b.keys, b.results, b.last = append(b.keys, key), append(b.results, r), now
		if len(b.keys) >= l.capacity {
			l.open = nil
			b.timer.Stop()
			go l.run(b)
		}
	}
	l.mu.Unlock()
	select {
	case <-r.done:
		return r.v, r.err
	case <-ctx.Done():
		var zero V
		return zero, ctx.Err()
	}
}

// expire sends b once it has been quiet for gap or open for max, and otherwise looks again
// when it would be.
func (l *Loader[K, V]) expire(b *batch[K, V]) {
	l.mu.Lock()
	if l.open != b {
		l.mu.Unlock()
		return // it left full
	}
	now := time.Now()
	quiet, open := min(now.Sub(b.last), l.activity.since(now)), now.Sub(b.first)
	if quiet < l.gap && open < l.max {
		b.timer.Reset(min(l.gap-quiet, l.max-open))
		l.mu.Unlock()
		return
	}
	l.open = nil
	l.mu.Unlock()
	l.run(b)
}

// run fetches a batch and hands every waiting caller its result. A panic in the fetch becomes
// every caller's error rather than a crash of the server.
func (l *Loader[K, V]) run(b *batch[K, V]) {
	var got map[K]V
	err := func() (err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("dataloaders: fetch panicked: %v", p)
			}
		}()
		got, err = l.fetch(b.ctx, b.keys)
		return err
	}()
	for i, k := range b.keys {
		r := b.results[i]
		switch v, ok := got[k]; {
		case err != nil:
			r.err = err
		case !ok:
			r.err = ErrNotFound
		default:
			r.v = v
		}
		close(r.done)
	}
}
