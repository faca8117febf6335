package ratelimit

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/laatu/laatu/internal/access"
	"github.com/laatu/laatu/internal/errs"
	"github.com/laatu/laatu/internal/httpx"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time           { return c.t }
func (c *clock) add(d time.Duration)      { c.t = c.t.Add(d) }
func newClock() *clock                    { return &clock{t: time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)} }
func limit(rate float64, burst int) Limit { return Limit{Rate: rate, Burst: burst} }

func TestChargeSpendsAndRefills(t *testing.T) {
	c := newClock()
	l := New(Config{User: limit(10, 100), Now: c.now})
	a, b := Keys{User: "a"}, Keys{User: "b"}
	if _, _, ok := l.Charge(a, 60); !ok {
		t.Fatal("a first charge within the burst must pass")
	}
	scope, retry, ok := l.Charge(a, 60)
	if ok || scope != ScopeUser || retry != 2*time.Second {
		t.Fatalf("over budget: scope %q retry %v ok %v; want user, 2s (20 missing at 10/s)", scope, retry, ok)
	}
	if _, _, ok := l.Charge(b, 100); !ok {
		t.Error("another user's budget is its own")
	}
	c.add(2 * time.Second)
	if _, _, ok := l.Charge(a, 60); !ok {
		t.Error("after the wait the charge passes (the refused one took nothing)")
	}
	// An operation costs at most a full bucket, and at least 1.
	c.add(time.Minute)
	if _, _, ok := l.Charge(a, 1_000_000); !ok {
		t.Error("a cost over the burst is charged as a full bucket")
	}
	if _, _, ok := l.Charge(a, 0); ok {
		t.Error("an empty bucket refuses even a free operation (cost 1)")
	}
}

// TestChargeAllOrNone: when the company's budget is spent, the user's is not charged.
func TestChargeAllOrNone(t *testing.T) {
	c := newClock()
	l := New(Config{User: limit(1, 100), Company: limit(1, 50), IP: limit(1, 1000), Now: c.now})
	k := Keys{User: "u", Company: "co", IP: "192.0.2.1"}
	if _, _, ok := l.Charge(k, 40); !ok {
		t.Fatal("first charge")
	}
	if scope, _, ok := l.Charge(k, 40); ok || scope != ScopeCompany {
		t.Fatalf("second charge: scope %q ok %v, want company", scope, ok)
	}
	// The user's bucket still holds 60: another company of the same user may spend it.
	if _, _, ok := l.Charge(Keys{User: "u", Company: "other"}, 60); !ok {
		t.Error("the refused charge was taken from the user's bucket")
	}
}

func TestBucketsBounded(t *testing.T) {
	c := newClock()
	l := New(Config{IP: limit(100, 100), MaxKeys: 10, Now: c.now})
	for i := range 50 {
		l.Charge(Keys{IP: fmt.Sprint(i)}, 1)
	}
	if n := l.Len(ScopeIP); n > 10 {
		t.Errorf("%d buckets kept, bound 10", n)
	}
	// Buckets unused long enough to refill are forgotten as others are used.
	c.add(2 * time.Second)
	for range 10 {
		l.Charge(Keys{IP: "busy"}, 1)
	}
	if n := l.Len(ScopeIP); n != 1 {
		t.Errorf("%d buckets kept after the others rested, want 1", n)
	}
}

func TestOff(t *testing.T) {
	if l := New(Config{User: limit(0, 100), Company: limit(10, 0)}); l != nil {
		t.Error("with every limit off there is no limiter")
	}
	var l *Limiter
	if err := l.Budget(context.Background(), 1e6); err != nil {
		t.Error(err)
	}
}

func TestBudgetKeysAndError(t *testing.T) {
	c := newClock()
	var rejected []string
	l := New(Config{Company: limit(1, 10), IP: limit(1, 1000), Now: c.now})
	l.Rejected = func(s string) { rejected = append(rejected, s) }
	ctx := access.NewContext(context.Background(), &access.Principal{UserID: "u", CompanyID: "co"})
	ctx = httpx.NewContext(ctx, httpx.RequestInfo{ClientIP: netip.MustParseAddr("192.0.2.7")})
	if err := l.Budget(ctx, 10); err != nil {
		t.Fatal(err)
	}
	err := l.Budget(ctx, 5)
	e, ok := errs.As(err)
	if !ok || e.Kind != errs.RateLimited || e.RetryAfter != 5*time.Second {
		t.Fatalf("over budget: %#v", err)
	}
	if len(rejected) != 1 || rejected[0] != ScopeCompany {
		t.Errorf("rejections %v", rejected)
	}
}
