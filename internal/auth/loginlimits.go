package auth

import (
	"context"
	"net/netip"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/laatu/laatu/internal/access"
	"github.com/laatu/laatu/internal/auth/throttle"
	"github.com/laatu/laatu/internal/errs"
	"github.com/laatu/laatu/internal/httpx"
	"github.com/laatu/laatu/internal/storage"
)

// The login policy (NIST SP 800-63B, 5.2.2: rate limiting without locking the owner out).
//
//   - One address guessing one account, and one address trying many accounts, are throttled
//     hard: the limiter given to NewService (in the server, four free failures, then a block
//     doubling from one second up to 15 minutes).
//   - One account guessed from many addresses is throttled gently, so that its owner still logs
//     in from an address of its own: AccountFreeFailures free failures, then each failure holds
//     the account for a wait doubling from one second up to AccountMaxDelay. A correct password
//     waits at most that long; an attacker gets at most one guess per AccountMaxDelay.
//   - After AccountCeiling failures on an account without a success (NIST's "no more than 100
//     consecutive failed attempts"), only addresses the account has logged in from before (on
//     this instance, in the last KnownAddressTTL) may try it, until a password reset or a
//     success; everyone else is answered RATE_LIMITED, alike for accounts and addresses without
//     one. Attempts refused by a throttle are not attempts: they check no password.
const (
	AccountFreeFailures = 10
	AccountMaxDelay     = 30 * time.Second
	AccountCeiling      = 100
	AccountWindow       = 24 * time.Hour
	KnownAddressTTL     = 30 * 24 * time.Hour
	// ThrottledWindow is how often, at most, the refused attempts on one account from one
	// address are recorded: one LOGIN_THROTTLED event, with their count, per window.
	ThrottledWindow = time.Minute
)

// NewAccountLimiter returns the per-account limiter of the policy above.
func NewAccountLimiter(now func() time.Time) *throttle.Limiter {
	return throttle.New(throttle.Config{FreeAttempts: AccountFreeFailures, BaseDelay: time.Second,
		MaxDelay: AccountMaxDelay, Window: AccountWindow, Now: now})
}

// knownAddresses remembers the addresses each account logged in from.
type knownAddresses struct {
	mu  sync.Mutex
	ttl time.Duration
	m   map[string]time.Time // email|addr -> last login
}

const maxKnownAddresses = 100_000

func (k *knownAddresses) add(email string, addr netip.Addr, now time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.m == nil {
		k.m = make(map[string]time.Time)
	}
	if len(k.m) >= maxKnownAddresses {
		for key, at := range k.m {
			if now.Sub(at) > k.ttl {
				delete(k.m, key)
			}
		}
		if len(k.m) >= maxKnownAddresses {
			return
		}
	}
	k.m[email+"|"+addr.String()] = now
}

func (k *knownAddresses) has(email string, addr netip.Addr, now time.Time) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	at, ok := k.m[email+"|"+addr.String()]
	return ok && now.Sub(at) <= k.ttl
}

// throttledLog gathers the attempts refused by a throttle, per account and address, into one
// LOGIN_THROTTLED event (with their count) and one log line per ThrottledWindow: the first
// refusal at once, the rest when the window ends (by the next refusal, or by Flush).
type throttledLog struct {
	mu sync.Mutex
	m  map[string]*throttled
}

type throttled struct {
	email    string
	addr     netip.Addr
	count    int       // refused since the last report
	reported time.Time // when the last report was made
}

const maxThrottledKeys = 100_000

const overflowKey = "*"

// add counts a refusal; it returns the count to report now, or 0.
func (l *throttledLog) add(email string, addr netip.Addr, now time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = make(map[string]*throttled)
	}
	key := email + "|" + addr.String()
	t := l.m[key]
	if t == nil && len(l.m) >= maxThrottledKeys {
		// Past the bound the refusals are counted together, under no account or address:
		// nothing goes uncounted, and a flood of fresh keys costs no event each.
		key = overflowKey
		t = l.m[key]
		email, addr = "", netip.Addr{}
	}
	if t == nil {
		t = &throttled{email: email, addr: addr}
		l.m[key] = t
		t.reported = now
		return 1
	}
	t.count++
	if now.Sub(t.reported) < ThrottledWindow {
		return 0
	}
	n := t.count
	t.count, t.reported = 0, now
	return n
}

// due takes the counts whose window has ended.
func (l *throttledLog) due(now time.Time, all bool) []throttled {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []throttled
	for key, t := range l.m {
		if !all && now.Sub(t.reported) < ThrottledWindow {
			continue
		}
		if t.count > 0 {
			out = append(out, *t)
		}
		if t.count == 0 && now.Sub(t.reported) >= ThrottledWindow {
			delete(l.m, key) // quiet for a window: the next refusal is reported at once
			continue
		}
		t.count, t.reported = 0, now
	}
	return out
}

// throttledAttempt answers an attempt refused by a throttle, and leaves its trace.
func (s *Service) throttledAttempt(ctx context.Context, email string, addr netip.Addr, wait time.Duration) error {
	s.countThrottled()
	if n := s.throttled.add(email, addr, s.store.Now()); n > 0 {
		s.reportThrottled(ctx, throttled{email: email, addr: addr, count: n})
	}
	return &errs.Error{Kind: errs.RateLimited, Message: "too many failed logins; wait before trying again", RetryAfter: wait}
}

// reportThrottled writes the event (in the system log, and in the companies of a known
// account) and the log line of t. The address's account is looked up only here, once per
// report, so that a flood of refused attempts costs no query each.
func (s *Service) reportThrottled(ctx context.Context, t throttled) {
	log := zerolog.Ctx(ctx)
	if log.GetLevel() == zerolog.Disabled && s.Log != nil {
		log = s.Log
	}
	userID := ""
	if u, err := s.store.UserByEmail(access.AsSystem(ctx, ""), t.email); err == nil {
		userID = u.ID
	}
	ev := log.Warn().Str("client_ip", t.addr.String()).Int("count", t.count)
	if userID != "" {
		ev = ev.Str("user_id", userID)
	} else {
		ev = ev.Bool("unknown_account", true)
	}
	ev.Msg("logins refused by the throttle")
	if err := s.record(ctx, Event{Action: "LOGIN_THROTTLED", UserID: userID,
		Fields: []storage.FieldChange{{Field: "count", After: t.count}}}); err != nil {
		log.Error().Err(err).Msg("audit throttled logins")
	}
}

// FlushThrottled records the refused logins counted but not yet recorded, those of ended
// windows, or all when all is set (at shutdown). The server calls it every ThrottledWindow.
func (s *Service) FlushThrottled(ctx context.Context, all bool) {
	for _, t := range s.throttled.due(s.store.Now(), all) {
		c := httpx.NewContext(access.AsSystem(ctx, ""), httpx.RequestInfo{ClientIP: t.addr})
		s.reportThrottled(c, t)
	}
}
