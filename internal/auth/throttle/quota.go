package throttle

import (
	"sync"
	"time"
)

// Quota counts events per key in fixed windows and refuses the ones past a limit: at most
// Limit events per key in each Window, the window starting at the key's first event. Unlike
// Limiter it counts every event, successful or not (invitations sent, say). State is in
// memory, per server instance; at most maxKeys keys are held, and when a new key finds the
// table full, windows that have ended are dropped first and, failing that, the new key is
// refused, so a flood of fresh keys cannot reset old ones.
type Quota struct {
	limit   int
	window  time.Duration
	maxKeys int
	now     func() time.Time

	mu   sync.Mutex
	keys map[string]*quotaEntry
}

type quotaEntry struct {
	start time.Time
	n     int
}

// NewQuota returns a Quota of limit events per key per window. now is the clock (time.Now
// when nil).
func NewQuota(limit int, window time.Duration, now func() time.Time) *Quota {
	if now == nil {
		now = time.Now
	}
	return &Quota{limit: limit, window: window, maxKeys: 100_000, now: now, keys: make(map[string]*quotaEntry)}
}

// Take counts one event under every key, or none when any of them is spent: then retryAfter
// is when the longest-spent window ends.
func (q *Quota) Take(keys ...string) (retryAfter time.Duration, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.now()
	for _, k := range keys {
		e := q.keys[k]
		if e != nil && !now.Before(e.start.Add(q.window)) {
			delete(q.keys, k)
			e = nil
		}
		if e != nil && e.n >= q.limit {
			retryAfter = max(retryAfter, e.start.Add(q.window).Sub(now))
		}
	}
	if retryAfter > 0 {
		return retryAfter, false
	}
	for _, k := range keys {
		if q.keys[k] == nil && len(q.keys) >= q.maxKeys {
			q.prune(now)
			if len(q.keys) >= q.maxKeys {
				return q.window, false
			}
		}
	}
	for _, k := range keys {
		e := q.keys[k]
		if e == nil {
			e = &quotaEntry{start: now}
			q.keys[k] = e
		}
		e.n++
	}
	return 0, true
}

func (q *Quota) prune(now time.Time) {
	for k, e := range q.keys {
		if !now.Before(e.start.Add(q.window)) {
			delete(q.keys, k)
		}
	}
}
