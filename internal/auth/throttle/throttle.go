// Package throttle slows down password guessing with per-key exponential back-off.
//
// Callers count failures under several keys at once, typically "ip:<addr>" (one address trying
// many accounts) and "acctip:<email-lower>|<addr>" (one address guessing one account), and
// refuse an attempt while any of its keys is blocked; a second, gentler Limiter spaces out the
// attempts on one account from many addresses (see auth.Service.Login). State is in memory,
// per server instance.
package throttle

import (
	"container/list"
	"sync"
	"time"
)

// Config tunes a Limiter. Zero fields take the defaults given.
type Config struct {
	// FreeAttempts is how many failures a key may have before it is blocked (5).
	FreeAttempts int
	// BaseDelay is the first block; each further failure doubles it (1s).
	BaseDelay time.Duration
	// MaxDelay caps a block (15m).
	MaxDelay time.Duration
	// Window is how long after its last failure a key is forgotten (1h); a key is never
	// forgotten while it is blocked.
	Window time.Duration
	// MaxKeys bounds memory (100 000). Beyond it the key with the oldest failure is dropped,
	// so an attacker who floods fresh keys can only shorten the memory of old, quiet ones.
	MaxKeys int
	// Now is the clock (time.Now).
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	if c.FreeAttempts <= 0 {
		c.FreeAttempts = 5
	}
	if c.BaseDelay <= 0 {
		c.BaseDelay = time.Second
	}
	if c.MaxDelay <= 0 {
		c.MaxDelay = 15 * time.Minute
	}
	if c.Window <= 0 {
		c.Window = time.Hour
	}
	if c.MaxKeys <= 0 {
		c.MaxKeys = 100_000
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// entry is the failure record of one key.
type entry struct {
	key          string
	failures     int
	last         time.Time // of the last failure
	blockedUntil time.Time
}

// Limiter counts failures per key. Expired keys are dropped lazily, so it needs no
// goroutine and no Close. A Limiter is safe for concurrent use.
type Limiter struct {
	cfg Config

	mu    sync.Mutex
	keys  map[string]*list.Element // of *entry
	order *list.List               // least recent failure first
}

// New returns a Limiter for cfg.
func New(cfg Config) *Limiter {
	return &Limiter{cfg: cfg.withDefaults(), keys: make(map[string]*list.Element), order: list.New()}
}

// expired reports whether e may be forgotten at now.
func (l *Limiter) expired(e *entry, now time.Time) bool {
	return !now.Before(e.last.Add(l.cfg.Window)) && !now.Before(e.blockedUntil)
}

func (l *Limiter) remove(el *list.Element) {
	l.order.Remove(el)
	delete(l.keys, el.Value.(*entry).key)
}

// Allow reports whether an attempt under keys may go ahead now. When it may not, retryAfter
// is the longest remaining block among the keys.
func (l *Limiter) Allow(keys ...string) (retryAfter time.Duration, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.cfg.Now()
	for _, k := range keys {
		el, found := l.keys[k]
		if !found {
			continue
		}
		e := el.Value.(*entry)
		if l.expired(e, now) {
			l.remove(el)
			continue
		}
		retryAfter = max(retryAfter, e.blockedUntil.Sub(now))
	}
	return retryAfter, retryAfter <= 0
}

// Failure records a failed attempt under each of keys. Once a key has had FreeAttempts
// failures, each further one blocks it for BaseDelay, then twice that, and so on up to
// MaxDelay.
func (l *Limiter) Failure(keys ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.cfg.Now() // under the lock, so the order list stays sorted by time
	l.pruneExpired(now)
	for _, k := range keys {
		var e *entry
		if el, found := l.keys[k]; found && !l.expired(el.Value.(*entry), now) {
			e = el.Value.(*entry)
			l.order.MoveToBack(el)
		} else {
			if found {
				l.remove(el)
			}
			for l.order.Len() >= l.cfg.MaxKeys {
				l.remove(l.order.Front())
			}
			e = &entry{key: k}
			l.keys[k] = l.order.PushBack(e)
		}
		e.failures++
		e.last = now
		if over := e.failures - l.cfg.FreeAttempts; over > 0 {
			e.blockedUntil = now.Add(l.delay(over))
		}
	}
}

// delay is the block after the over-th failure beyond the free ones.
func (l *Limiter) delay(over int) time.Duration {
	d := l.cfg.BaseDelay
	for range over - 1 {
		if d > l.cfg.MaxDelay-d { // doubling would pass the cap (or overflow)
			return l.cfg.MaxDelay
		}
		d *= 2
	}
	return min(d, l.cfg.MaxDelay)
}

// pruneExpired drops forgotten keys from the old end; it stops at the first key still
// remembered, which keeps each call cheap.
func (l *Limiter) pruneExpired(now time.Time) {
	for el := l.order.Front(); el != nil && l.expired(el.Value.(*entry), now); el = l.order.Front() {
		l.remove(el)
	}
}

// Failures is how many failures key has had since it was last forgotten.
func (l *Limiter) Failures(key string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	el, found := l.keys[key]
	if !found || l.expired(el.Value.(*entry), l.cfg.Now()) {
		return 0
	}
	return el.Value.(*entry).failures
}

// Success forgets key. Callers pass only the account key: a correct password proves the
// account's owner, not that the address is not also guessing other accounts.
func (l *Limiter) Success(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if el, found := l.keys[key]; found {
		l.remove(el)
	}
}
