package auth

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/laatu/laatu/internal/auth/password"
	"github.com/laatu/laatu/internal/auth/throttle"
	"github.com/laatu/laatu/internal/errs"
	"github.com/laatu/laatu/internal/httpx"
	"github.com/laatu/laatu/internal/storage"
	"github.com/laatu/laatu/internal/testdb"
)

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// TestAccountCeiling: after AccountCeiling failed checks of an account's password from many
// addresses, only an address the account logged in from before may try it; a reset opens it
// again. The clock is fake, so the account's spacing is waited out at once.
func TestAccountCeiling(t *testing.T) {
	db := testdb.New(t)
	store := storage.New(db.App)
	ctx := context.Background()
	hasher, err := password.NewHasher(password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 2)
	if err != nil {
		t.Fatal(err)
	}
	hash, err := hasher.Hash(ctx, "the right passphrase")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.CreateUser(ctx, storage.NewUser{Email: "owner@ceiling.test", Name: "Owner", PasswordHash: hash}); err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{now: time.Now()}
	svc := NewService(store, hasher, throttle.New(throttle.Config{FreeAttempts: 4, Now: clock.Now}), SessionPolicy{Idle: time.Hour, Absolute: time.Hour}, "http://localhost")
	svc.accounts = NewAccountLimiter(clock.Now)
	from := func(addr string) context.Context {
		return httpx.NewContext(ctx, httpx.RequestInfo{ClientIP: netip.MustParseAddr(addr)})
	}
	login := func(addr, pw string) errs.Kind {
		for {
			_, err := svc.Login(from(addr), "owner@ceiling.test", pw)
			if err == nil {
				return ""
			}
			e, ok := errs.As(err)
			if !ok {
				t.Fatalf("login: %v", err)
			}
			if e.Kind != errs.RateLimited || e.RetryAfter <= 0 || e.RetryAfter > AccountMaxDelay {
				return e.Kind
			}
			clock.Advance(e.RetryAfter) // the account's spacing, waited out
		}
	}
	if k := login("192.0.2.1", "the right passphrase"); k != "" {
		t.Fatalf("the owner's first login: %s", k)
	}
	for i := range AccountCeiling {
		if k := login(fmt.Sprintf("10.9.%d.%d", i/200, i%200+1), "a guess"); k != errs.Unauthenticated {
			t.Fatalf("guess %d: %s", i+1, k)
		}
	}
	clock.Advance(AccountMaxDelay)
	if k := login("10.9.9.9", "the right passphrase"); k != errs.RateLimited {
		t.Errorf("past the ceiling, a new address with the right password: %s, want RATE_LIMITED", k)
	}
	if k := login("192.0.2.1", "the right passphrase"); k != "" {
		t.Errorf("past the ceiling, the owner's known address: %s, want a session", k)
	}
	// The success counts as the owner's: the account is open again.
	if k := login("10.9.9.9", "the right passphrase"); k != "" {
		t.Errorf("after the owner's login, a new address: %s", k)
	}
}

func TestThrottledLogOneReportPerWindow(t *testing.T) {
	var l throttledLog
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	a := netip.MustParseAddr("192.0.2.7")
	if n := l.add("x@y.test", a, now); n != 1 {
		t.Fatalf("the first refusal reports %d, want 1 at once", n)
	}
	for range 9 {
		if n := l.add("x@y.test", a, now.Add(time.Second)); n != 0 {
			t.Fatalf("a refusal within the window reports %d", n)
		}
	}
	if due := l.due(now.Add(30*time.Second), false); len(due) != 0 {
		t.Errorf("due before the window ended: %+v", due)
	}
	due := l.due(now.Add(ThrottledWindow), false)
	if len(due) != 1 || due[0].count != 9 || due[0].email != "x@y.test" || due[0].addr != a {
		t.Errorf("due at the window's end: %+v, want the nine", due)
	}
	// A quiet window forgets the key: the next refusal is reported at once again.
	if due := l.due(now.Add(3*ThrottledWindow), false); len(due) != 0 {
		t.Errorf("a quiet window: %+v", due)
	}
	if n := l.add("x@y.test", a, now.Add(3*ThrottledWindow)); n != 1 {
		t.Errorf("after a quiet window: %d", n)
	}
}
