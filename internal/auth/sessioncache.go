package auth

import (
	"context"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/laatu/laatu/internal/storage"
)

// cacheTTL bounds how long a session, its user and memberships are trusted without reading
// them again. Every change that ends a session or alters what it may do (logout, revocation,
// password change, a disabled user, a level changed, a membership added or removed) drops the
// user's entries at once on every instance (Invalidate, driven by the change notifications);
// the TTL only bounds what a change made behind the server's back could leave stale.
const cacheTTL = 15 * time.Second

// cacheMax bounds the number of cached sessions; past it the cache starts afresh.
const cacheMax = 100_000

// sessionCache keeps recently read sessions by the hash of their token, so that an
// authenticated request costs no database round trip.
type sessionCache struct {
	mu sync.Mutex
	// gen counts invalidations: a read that began before one is not stored, so that a session
	// ended while it was being read cannot come back from the cache.
	gen    uint64
	byHash map[string]*cached
	byUser map[string]map[string]struct{}
}

type cached struct {
	sess    storage.Session
	user    storage.User
	members []*storage.Membership
	readAt  time.Time
}

func newSessionCache() *sessionCache {
	return &sessionCache{byHash: map[string]*cached{}, byUser: map[string]map[string]struct{}{}}
}

// get returns the cached entry for hash read at most cacheTTL before now, and the generation
// to hand to put if the caller reads the session itself.
func (c *sessionCache) get(hash string, now time.Time) (*cached, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.byHash[hash]
	if e != nil && now.Sub(e.readAt) < cacheTTL && !now.Before(e.readAt) {
		return e, c.gen
	}
	return nil, c.gen
}

// put stores an entry read during generation gen, unless something was invalidated since.
func (c *sessionCache) put(hash string, e *cached, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if len(c.byHash) >= cacheMax {
		c.byHash, c.byUser = map[string]*cached{}, map[string]map[string]struct{}{}
	}
	c.byHash[hash] = e
	hs := c.byUser[e.user.ID]
	if hs == nil {
		hs = map[string]struct{}{}
		c.byUser[e.user.ID] = hs
	}
	hs[hash] = struct{}{}
}

// seen records that the cached session was used at t, so that idle expiry sees it.
func (c *sessionCache) seen(hash string, t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.byHash[hash]; e != nil && e.sess.LastSeenAt.Before(t) {
		cp := *e
		cp.sess.LastSeenAt = t
		c.byHash[hash] = &cp
	}
}

// invalidate drops the entries of userID, or every entry when userID is empty.
func (c *sessionCache) invalidate(userID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if userID == "" {
		c.byHash, c.byUser = map[string]*cached{}, map[string]map[string]struct{}{}
		return
	}
	for h := range c.byUser[userID] {
		delete(c.byHash, h)
	}
	delete(c.byUser, userID)
}

// toucher writes sessions' last use in the background, at most once per session per
// touchEvery: idle expiry is measured in hours, and a write per request would cost a WAL
// flush on the read path.
type toucher struct {
	store *storage.Store
	log   zerolog.Logger

	mu      sync.Mutex
	pending map[string]time.Time
	wake    chan struct{}
	stop    chan struct{}
	done    chan struct{}
}

func newToucher(store *storage.Store, log zerolog.Logger) *toucher {
	t := &toucher{store: store, log: log, pending: map[string]time.Time{},
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go t.run()
	return t
}

// touch queues a session's last use; it never blocks on the database.
func (t *toucher) touch(sessionID string, at time.Time) {
	t.mu.Lock()
	if prev, ok := t.pending[sessionID]; !ok || prev.Before(at) {
		t.pending[sessionID] = at
	}
	t.mu.Unlock()
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

func (t *toucher) run() {
	defer close(t.done)
	for {
		select {
		case <-t.wake:
			t.flush()
		case <-t.stop:
			t.flush()
			return
		}
	}
}

func (t *toucher) flush() {
	t.mu.Lock()
	batch := t.pending
	t.pending = map[string]time.Time{}
	t.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := t.store.TouchSessions(ctx, batch); err != nil {
		// A lost touch only makes a session look idle a minute earlier than it is.
		t.log.Warn().Err(err).Int("sessions", len(batch)).Msg("record session use")
	}
}

// close writes what is pending and stops.
func (t *toucher) close() {
	select {
	case <-t.stop:
	default:
		close(t.stop)
	}
	<-t.done
}
