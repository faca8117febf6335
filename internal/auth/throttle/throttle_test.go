package throttle

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// clock is a fake clock that is safe to read from many goroutines.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newLimiter(c *clock, cfg Config) *Limiter {
	cfg.Now = c.Now
	return New(cfg)
}

func assertAllowed(t *testing.T, l *Limiter, keys ...string) {
	t.Helper()
	if wait, ok := l.Allow(keys...); !ok || wait != 0 {
		t.Fatalf("Allow(%v) = %v, %v; want 0, true", keys, wait, ok)
	}
}

func assertBlocked(t *testing.T, l *Limiter, want time.Duration, keys ...string) {
	t.Helper()
	if wait, ok := l.Allow(keys...); ok || wait != want {
		t.Fatalf("Allow(%v) = %v, %v; want %v, false", keys, wait, ok, want)
	}
}

func TestDefaults(t *testing.T) {
	cfg := Config{}.withDefaults()
	if cfg.FreeAttempts != 5 || cfg.BaseDelay != time.Second || cfg.MaxDelay != 15*time.Minute ||
		cfg.Window != time.Hour || cfg.MaxKeys != 100_000 || cfg.Now == nil {
		t.Fatalf("defaults %+v", cfg)
	}
}

func TestFreeAttemptsThenGrowthThenCap(t *testing.T) {
	c := newClock()
	l := newLimiter(c, Config{})
	for i := range 5 {
		assertAllowed(t, l, "acct:a")
		l.Failure("acct:a")
		if i < 4 {
			c.Advance(time.Millisecond)
		}
	}
	// Five free failures; the sixth attempt is allowed and only its failure blocks.
	assertAllowed(t, l, "acct:a")
	want := []time.Duration{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900, 900}
	for i, w := range want {
		w *= time.Second
		l.Failure("acct:a")
		assertBlocked(t, l, w, "acct:a")
		c.Advance(w - time.Millisecond)
		assertBlocked(t, l, time.Millisecond, "acct:a")
		c.Advance(time.Millisecond)
		if i < len(want)-1 {
			assertAllowed(t, l, "acct:a")
		}
	}
}

func TestDelayNeverOverflows(t *testing.T) {
	l := New(Config{BaseDelay: time.Second, MaxDelay: 1<<63 - 1})
	for _, over := range []int{1, 40, 62, 63, 64, 1000, 1 << 30} {
		if d := l.delay(over); d <= 0 {
			t.Fatalf("delay(%d) = %v", over, d)
		}
	}
	if d := l.delay(3); d != 4*time.Second {
		t.Fatalf("delay(3) = %v, want 4s", d)
	}
}

func TestSuccessResetsOnlyItsKey(t *testing.T) {
	c := newClock()
	l := newLimiter(c, Config{FreeAttempts: 2})
	for range 3 {
		l.Failure("acct:a", "ip:1")
	}
	assertBlocked(t, l, time.Second, "acct:a")
	assertBlocked(t, l, time.Second, "ip:1")
	l.Success("acct:a")
	assertAllowed(t, l, "acct:a")
	assertBlocked(t, l, time.Second, "acct:a", "ip:1")
	// The account starts from zero again; the address keeps its count.
	c.Advance(time.Second)
	l.Failure("acct:a", "ip:1")
	assertAllowed(t, l, "acct:a")
	assertBlocked(t, l, 2*time.Second, "ip:1")
}

func TestBlockedByEitherKey(t *testing.T) {
	c := newClock()
	l := newLimiter(c, Config{FreeAttempts: 1, MaxDelay: time.Hour})
	// One address guessing many accounts.
	for i := range 4 {
		l.Failure(fmt.Sprintf("acct:%d", i), "ip:1")
	}
	assertBlocked(t, l, 4*time.Second, "acct:new", "ip:1")
	assertAllowed(t, l, "acct:new", "ip:2")
	// One account guessed from many addresses.
	for i := range 3 {
		l.Failure("acct:x", fmt.Sprintf("ip:x%d", i))
	}
	assertBlocked(t, l, 2*time.Second, "acct:x", "ip:fresh")
	// The longest block wins.
	assertBlocked(t, l, 4*time.Second, "acct:x", "ip:1")
	assertBlocked(t, l, 4*time.Second, "ip:1", "acct:x")
	assertAllowed(t, l)
}

func TestWindowForgets(t *testing.T) {
	c := newClock()
	l := newLimiter(c, Config{FreeAttempts: 2, Window: time.Hour})
	l.Failure("k")
	l.Failure("k")
	c.Advance(time.Hour)
	// Forgotten: two more failures are free again.
	l.Failure("k")
	l.Failure("k")
	assertAllowed(t, l, "k")
	l.Failure("k")
	assertBlocked(t, l, time.Second, "k")
	if n := len(l.keys); n != 1 {
		t.Fatalf("%d keys, want 1", n)
	}
	c.Advance(time.Hour)
	assertAllowed(t, l, "k")
	if n := len(l.keys); n != 0 {
		t.Fatalf("expired key kept: %d keys", n)
	}
}

func TestBlockOutlastsWindow(t *testing.T) {
	c := newClock()
	l := newLimiter(c, Config{FreeAttempts: 1, BaseDelay: time.Hour, MaxDelay: 4 * time.Hour, Window: time.Minute})
	l.Failure("k")
	l.Failure("k")
	l.Failure("k")
	c.Advance(time.Hour)
	assertBlocked(t, l, time.Hour, "k")
	l.Failure("other") // pruning must not drop a key that is still blocked
	assertBlocked(t, l, time.Hour, "k")
	c.Advance(time.Hour)
	assertAllowed(t, l, "k")
}

func TestMaxKeysEvictsOldest(t *testing.T) {
	c := newClock()
	l := newLimiter(c, Config{FreeAttempts: 1, MaxKeys: 3})
	for _, k := range []string{"a", "b", "c"} {
		l.Failure(k)
		l.Failure(k)
		c.Advance(time.Millisecond)
	}
	l.Failure("a") // a is now the most recent
	c.Advance(time.Millisecond)
	l.Failure("d")
	if _, ok := l.keys["b"]; ok {
		t.Fatal("b, the oldest, was not evicted first")
	}
	if _, ok := l.keys["a"]; !ok {
		t.Fatal("a, recently failed, was evicted")
	}
	for i := range 100 {
		l.Failure(fmt.Sprint("flood", i))
		if n, m := len(l.keys), l.order.Len(); n > 3 || n != m {
			t.Fatalf("%d keys, %d in order; want at most 3", n, m)
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	c := newClock()
	l := newLimiter(c, Config{FreeAttempts: 3, MaxKeys: 50})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				acct, ip := fmt.Sprint("acct:", i%20), fmt.Sprint("ip:", g)
				l.Allow(acct, ip)
				l.Failure(acct, ip)
				if i%7 == 0 {
					l.Success(acct)
				}
				if i%50 == 0 {
					c.Advance(time.Second)
				}
			}
		})
	}
	wg.Wait()
	if n, m := len(l.keys), l.order.Len(); n > 50 || n != m {
		t.Fatalf("%d keys, %d in order", n, m)
	}
}

func TestQuota(t *testing.T) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	q := NewQuota(3, time.Hour, func() time.Time { return now })
	for i := range 3 {
		if _, ok := q.Take("sharer:a", "company:x"); !ok {
			t.Fatalf("event %d refused", i+1)
		}
	}
	if wait, ok := q.Take("sharer:a", "company:y"); ok || wait != time.Hour {
		t.Errorf("the fourth event of a sharer: ok %v, wait %v", ok, wait)
	}
	// A refused event counts under none of its keys: company y has room for three.
	for i := range 3 {
		if _, ok := q.Take("sharer:b", "company:y"); !ok {
			t.Fatalf("company y, event %d refused", i+1)
		}
	}
	if _, ok := q.Take("sharer:c", "company:x"); ok {
		t.Error("a fresh sharer in a spent company was let through")
	}
	now = now.Add(time.Hour)
	if _, ok := q.Take("sharer:a", "company:x"); !ok {
		t.Error("refused after the window ended")
	}
}

func TestFailuresCountsUntilForgotten(t *testing.T) {
	c := newClock()
	l := newLimiter(c, Config{FreeAttempts: 100, Window: time.Hour})
	for range 3 {
		l.Failure("acct:a")
	}
	if n := l.Failures("acct:a"); n != 3 {
		t.Errorf("Failures = %d, want 3", n)
	}
	l.Success("acct:a")
	if n := l.Failures("acct:a"); n != 0 {
		t.Errorf("after Success: %d", n)
	}
	l.Failure("acct:a")
	c.Advance(time.Hour)
	if n := l.Failures("acct:a"); n != 0 {
		t.Errorf("after the window: %d", n)
	}
}
