package e2e

// An attacker cannot lock an account's owner out, and refused attempts leave a trace.

import (
	"fmt"
	"testing"
	"time"

	"github.com/laatu/laatu/internal/access"
	"github.com/laatu/laatu/internal/audit"
	"github.com/laatu/laatu/internal/auth"
	"github.com/laatu/laatu/internal/config"
	"github.com/laatu/laatu/internal/testserver"
)

// lEvents returns the system log's events of one action about userID.
func lEvents(t *testing.T, s *testserver.Server, action, userID string) []*audit.Event {
	t.Helper()
	page, err := s.App.Audit.Events(access.AsSystem(t.Context(), ""), audit.NoCompany, audit.Filter{Action: action, ObjectID: userID}, 100, "")
	if err != nil {
		t.Fatal(err)
	}
	return page.Items
}

// lCount sums the count fields of LOGIN_THROTTLED events.
func lCount(events []*audit.Event) int {
	n := 0
	for _, e := range events {
		for _, f := range e.Fields {
			if f.Field == "count" {
				if v, ok := f.After.(float64); ok {
					n += int(v)
				} else if v, ok := f.After.(int); ok {
					n += v
				} else if v, ok := f.After.(int64); ok {
					n += int(v)
				}
			}
		}
	}
	return n
}

// lLoginWithin logs in, waiting as long as the answers' retryAfterSeconds ask, up to a deadline.
func lLoginWithin(t *testing.T, s *testserver.Server, email, ip string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		res := aTryLogin(t, s, email, aDemoPassword, ip)
		switch aOutcome(res, "login") {
		case aData:
			return
		case "RATE_LIMITED":
			wait, _ := res.Errors[0].Extensions["retryAfterSeconds"].(float64)
			if wait > auth.AccountMaxDelay.Seconds()+1 {
				t.Fatalf("the owner is told to wait %vs, more than the account's most (%v)", wait, auth.AccountMaxDelay)
			}
			if time.Now().Add(time.Duration(wait) * time.Second).After(deadline) {
				t.Fatalf("the owner still refused after %v: %s", limit, aShape(res))
			}
			time.Sleep(time.Duration(wait)*time.Second + 100*time.Millisecond)
		default:
			t.Fatalf("the owner's login: %s", aShape(res))
		}
	}
}

func TestLoginOwnerNotLockedOutByOneAddress(t *testing.T) {
	s := testserver.New(t, func(c *config.Config) { c.TrustedProxies = []string{"127.0.0.1", "::1"} })
	var ids []string
	aSQL(t, s, &ids, "SELECT id FROM users WHERE email = 'member@acme.test'")
	member := ids[0]

	failed, refused := 0, 0
	for i := range 100 {
		switch got := aOutcome(aTryLogin(t, s, "member@acme.test", fmt.Sprintf("guess %d", i), "10.3.0.1"), "login"); got {
		case aUnauth:
			failed++
		case "RATE_LIMITED":
			refused++
		default:
			t.Fatalf("guess %d: %s", i, got)
		}
	}
	if failed > 10 || refused < 90 {
		t.Fatalf("%d guesses checked, %d refused: the address is not throttled", failed, refused)
	}
	// The owner, from another address, logs in; the attacker's address stays throttled.
	lLoginWithin(t, s, "member@acme.test", "10.3.0.2", 10*time.Second)
	if got := aOutcome(aTryLogin(t, s, "member@acme.test", aDemoPassword, "10.3.0.1"), "login"); got != "RATE_LIMITED" {
		t.Errorf("the attacker's address after the owner's login: %s, want RATE_LIMITED", got)
	}
	refused++

	// Every attempt left a trace: a LOGIN_FAILED per checked guess, and the refused ones
	// counted in LOGIN_THROTTLED events, one per window (the first at once).
	if got := len(lEvents(t, s, "LOGIN_FAILED", member)); got != failed {
		t.Errorf("%d LOGIN_FAILED events, want %d", got, failed)
	}
	first := lEvents(t, s, "LOGIN_THROTTLED", member)
	if len(first) != 1 || lCount(first) != 1 {
		t.Errorf("before the window ends: %d LOGIN_THROTTLED events counting %d, want the first refusal alone", len(first), lCount(first))
	}
	s.App.Identity.FlushThrottled(t.Context(), true)
	all := lEvents(t, s, "LOGIN_THROTTLED", member)
	if len(all) != 2 || lCount(all) != refused {
		t.Errorf("after the window: %d LOGIN_THROTTLED events counting %d, want 2 counting %d", len(all), lCount(all), refused)
	}
	for _, e := range all {
		if e.ClientIP != "10.3.0.1" {
			t.Errorf("a LOGIN_THROTTLED event from %q, want the attacker's address", e.ClientIP)
		}
	}
}

func TestLoginOwnerNotLockedOutByManyAddresses(t *testing.T) {
	s := testserver.New(t, func(c *config.Config) { c.TrustedProxies = []string{"127.0.0.1", "::1"} })
	// Guesses from many addresses, each under its own limit, reach the account's: attempts on
	// the account are then spaced out, for everyone, by a short wait.
	spaced := false
	for i := 1; i <= auth.AccountFreeFailures+3; i++ {
		if aOutcome(aTryLogin(t, s, "member@acme.test", "guess", fmt.Sprintf("10.4.0.%d", i)), "login") == "RATE_LIMITED" {
			spaced = true
		}
	}
	if !spaced {
		t.Errorf("%d guesses from as many addresses were all checked: the account is not throttled", auth.AccountFreeFailures+3)
	}
	lLoginWithin(t, s, "member@acme.test", "10.4.1.1", 2*auth.AccountMaxDelay)
}
