// Package ratelimit keeps the budgets of operations: token buckets per user, per company and
// per client address (golang.org/x/time/rate), charged with each operation's computed cost
// (api.Limits: one per field, a connection's selection times its page size), not per request.
//
// Buckets live in memory, one instance each: behind a load balancer every instance keeps its
// own, so a client spread over n instances gets up to n times the budget. The number of
// buckets is bounded: a bucket left alone long enough to refill is forgotten (a new one is
// the same: full), and past MaxKeys the least recently used one is. With a Redis client the
// buckets are kept there instead, shared by every instance (redis.go); when Redis fails to
// answer, the instance's own buckets decide meanwhile.
package ratelimit

import (
	"container/list"
	"context"
	"math"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"

	"github.com/laatu/laatu/internal/access"
	"github.com/laatu/laatu/internal/errs"
	"github.com/laatu/laatu/internal/httpx"
)

// MaxKeys bounds the buckets kept per scope.
const MaxKeys = 100_000

// Limit is a budget: Rate units of cost per second, up to Burst saved. A zero Rate is no limit.
type Limit struct {
	Rate  float64
	Burst int
}

// Off reports whether the limit limits nothing.
func (l Limit) Off() bool { return l.Rate <= 0 || l.Burst <= 0 }

// Scopes of budgets, as they appear in errors and metrics.
const (
	ScopeUser    = "user"
	ScopeCompany = "company"
	ScopeIP      = "ip"
)

// Config holds the budget of each scope.
type Config struct {
	User, Company, IP Limit
	// MaxKeys bounds the buckets kept per scope (MaxKeys when 0).
	MaxKeys int
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Redis, when set, keeps the buckets, shared by the instances that use it; their keys
	// start with Prefix ("laatu:" when empty).
	Redis  *redis.Client
	Prefix string
}

// Limiter charges operations to the budgets of their caller. It is safe for concurrent use.
type Limiter struct {
	scopes []*buckets
	now    func() time.Time
	// Rejected, when set, is told of each refused operation with the scope whose budget
	// was spent (metrics).
	Rejected func(scope string)
	// RedisFailed, when set, is told of each charge that Redis failed to answer (and that the
	// instance's own buckets decided instead).
	RedisFailed func(error)

	redis  *redis.Client
	prefix string
}

// New returns a Limiter, nil when every limit is off.
func New(c Config) *Limiter {
	if c.MaxKeys <= 0 {
		c.MaxKeys = MaxKeys
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Prefix == "" {
		c.Prefix = "laatu:"
	}
	l := &Limiter{now: c.Now, redis: c.Redis, prefix: c.Prefix}
	for _, s := range []struct {
		name  string
		limit Limit
	}{{ScopeUser, c.User}, {ScopeCompany, c.Company}, {ScopeIP, c.IP}} {
		if !s.limit.Off() {
			l.scopes = append(l.scopes, newBuckets(s.name, s.limit, c.MaxKeys))
		}
	}
	if len(l.scopes) == 0 {
		return nil
	}
	return l
}

// Keys name the caller's bucket in each scope; an empty key is not charged.
type Keys struct{ User, Company, IP string }

func (k Keys) of(scope string) string {
	switch scope {
	case ScopeUser:
		return k.User
	case ScopeCompany:
		return k.Company
	}
	return k.IP
}

// Charge takes cost from every bucket of keys, or from none: when one of them lacks it, what
// was taken from the others is given back, and Charge returns the first scope short and
// how long until its bucket holds cost again. An operation costs at least 1 and at most a
// full bucket, so that every operation the query limits accept can run on a rested budget.
func (l *Limiter) Charge(k Keys, cost int) (scope string, retry time.Duration, ok bool) {
	if l == nil {
		return "", 0, true
	}
	now := l.now()
	var taken []*rate.Reservation
	defer func() {
		if !ok {
			for _, r := range taken {
				r.CancelAt(now)
			}
		}
	}()
	for _, b := range l.scopes {
		key := k.of(b.scope)
		if key == "" {
			continue
		}
		r := b.reserve(key, min(max(cost, 1), b.limit.Burst), now)
		if d := r.DelayFrom(now); d > 0 {
			r.CancelAt(now)
			return b.scope, d, false
		}
		taken = append(taken, r)
	}
	return "", 0, true
}

// Budget charges the operation of ctx (its caller's principal and client address) with cost.
// Over budget it returns RATE_LIMITED with the time to wait; the API answers it with 429.
// A guest acts in no company of its own until it reaches an object: it is charged as a user
// and by address only.
func (l *Limiter) Budget(ctx context.Context, cost int) error {
	if l == nil {
		return nil
	}
	var k Keys
	if p := access.FromContext(ctx); p != nil {
		k.User, k.Company = p.UserID, p.CompanyID
	}
	if info, ok := httpx.FromContext(ctx); ok && info.ClientIP.IsValid() {
		k.IP = info.ClientIP.String()
	}
	scope, retry, ok := l.charge(ctx, k, cost)
	if ok {
		return nil
	}
	if l.Rejected != nil {
		l.Rejected(scope)
	}
	return &errs.Error{Kind: errs.RateLimited, RetryAfter: retry,
		Message: "rate limit of this " + map[string]string{ScopeUser: "user", ScopeCompany: "company", ScopeIP: "client address"}[scope] +
			" exceeded (operations are charged by their cost); retry later"}
}

// charge charges in Redis when there is one, and in memory when there is none or it fails.
func (l *Limiter) charge(ctx context.Context, k Keys, cost int) (string, time.Duration, bool) {
	if l.redis != nil {
		scope, retry, ok, err := l.chargeRedis(ctx, k, cost)
		if err == nil {
			return scope, retry, ok
		}
		if l.RedisFailed != nil {
			l.RedisFailed(err)
		}
	}
	return l.Charge(k, cost)
}

// buckets are the token buckets of one scope, most recently used first.
type buckets struct {
	scope string
	limit Limit
	max   int
	// rest is how long a bucket takes to refill from empty: one unused longer is full, and
	// forgetting it changes nothing.
	rest time.Duration

	mu   sync.Mutex
	keys map[string]*list.Element // of *bucket
	lru  *list.List
}

type bucket struct {
	key  string
	lim  *rate.Limiter
	used time.Time
}

func newBuckets(scope string, l Limit, maxKeys int) *buckets {
	rest := time.Duration(math.Ceil(float64(l.Burst) / l.Rate * float64(time.Second)))
	return &buckets{scope: scope, limit: l, max: maxKeys, rest: rest, keys: map[string]*list.Element{}, lru: list.New()}
}

func (b *buckets) reserve(key string, n int, now time.Time) *rate.Reservation {
	b.mu.Lock()
	defer b.mu.Unlock()
	var e *bucket
	if el, ok := b.keys[key]; ok {
		e = el.Value.(*bucket)
		b.lru.MoveToFront(el)
	} else {
		e = &bucket{key: key, lim: rate.NewLimiter(rate.Limit(b.limit.Rate), b.limit.Burst)}
		b.keys[key] = b.lru.PushFront(e)
	}
	e.used = now
	b.evict(now)
	return e.lim.ReserveN(now, n)
}

// evict forgets, from the least recently used end, the buckets over the bound and a few
// rested ones: a little work on every call keeps memory bounded without a goroutine.
func (b *buckets) evict(now time.Time) {
	for i := 0; b.lru.Len() > 1; i++ {
		el := b.lru.Back()
		old := el.Value.(*bucket)
		if b.lru.Len() <= b.max && (i >= 2 || now.Sub(old.used) < b.rest) {
			return
		}
		b.lru.Remove(el)
		delete(b.keys, old.key)
	}
}

// Len returns the number of buckets kept in scope (tests).
func (l *Limiter) Len(scope string) int {
	for _, b := range l.scopes {
		if b.scope == scope {
			b.mu.Lock()
			defer b.mu.Unlock()
			return b.lru.Len()
		}
	}
	return 0
}
