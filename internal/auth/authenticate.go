// Package auth establishes who is calling: sessions, logins, passwords and their throttling.
// It knows nothing of GraphQL; the directives that use what it establishes live in internal/api.
package auth

import (
	"context"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/rs/zerolog"

	"github.com/laatu/laatu/internal/access"
	"github.com/laatu/laatu/internal/auth/token"
	"github.com/laatu/laatu/internal/errs"
	"github.com/laatu/laatu/internal/storage"
)

// SessionPolicy says how long sessions live.
type SessionPolicy struct {
	// Idle ends a session that has not been used for this long.
	Idle time.Duration
	// Absolute ends a session this long after login, used or not.
	Absolute time.Duration
}

// touchEvery limits last-seen writes to one per session per interval; idle expiry is measured
// in hours, so a minute of slack costs nothing and saves a write per request.
const touchEvery = time.Minute

// Authenticator turns a bearer token into a principal. It keeps recently read sessions in
// memory (sessionCache), so that most requests authenticate without the database, and records
// sessions' use in the background (toucher).
type Authenticator struct {
	store   *storage.Store
	policy  SessionPolicy
	cache   *sessionCache
	toucher *toucher
}

// NewAuthenticator returns an Authenticator over store. Close stops its background writer.
func NewAuthenticator(store *storage.Store, policy SessionPolicy, log zerolog.Logger) *Authenticator {
	return &Authenticator{store: store, policy: policy, cache: newSessionCache(), toucher: newToucher(store, log)}
}

// Close writes the pending session uses and stops the background writer.
func (a *Authenticator) Close() error { a.toucher.close(); return nil }

// Invalidate forgets the cached sessions of userID (every session when userID is empty), so
// that the next request reads them again. It is called after every committed change that
// concerns a user's sessions or memberships, on every instance.
func (a *Authenticator) Invalidate(userID string) { a.cache.invalidate(userID) }

// ErrBadSession is returned for a token that names no live session. Its message is the same
// whether the token is unknown, expired, revoked or its user disabled.
var ErrBadSession = errs.New(errs.Unauthenticated, "the session is invalid or has expired; log in again")

// Anonymous is the principal of a request without a token.
func Anonymous() *access.Principal { return &access.Principal{} }

// Authenticate checks a bearer token and builds the principal, choosing the active company:
// the X-Company-ID header when the user is a member there; no company (guest only) when the
// header names one it does not belong to; its oldest membership when there is no header.
func (a *Authenticator) Authenticate(ctx context.Context, bearer, companyHeader string) (*access.Principal, error) {
	return a.authenticate(ctx, bearer, companyHeader, false)
}

// Recheck is Authenticate from the database, past the cache, which it refreshes. A stream
// re-authorizing for an event uses it: the event may be the very change (a demotion, a
// removal) that this instance's cache forgets only once the changing request has finished
// committing, a moment after the event's notification may have arrived.
func (a *Authenticator) Recheck(ctx context.Context, bearer, companyHeader string) (*access.Principal, error) {
	return a.authenticate(ctx, bearer, companyHeader, true)
}

func (a *Authenticator) authenticate(ctx context.Context, bearer, companyHeader string, fresh bool) (*access.Principal, error) {
	hash := string(token.Hash(bearer))
	now := a.store.Now()
	e, gen := a.cache.get(hash, now)
	if fresh {
		e = nil
	}
	if e == nil {
		sess, user, ms, err := a.store.SessionByTokenHash(ctx, []byte(hash))
		if err != nil {
			if errs.KindOf(err) == errs.NotFound {
				return nil, ErrBadSession
			}
			return nil, err
		}
		e = &cached{sess: *sess, user: *user, members: ms, readAt: now}
		a.cache.put(hash, e, gen)
	}
	sess := &e.sess
	if sess.RevokedAt != nil || !now.Before(sess.ExpiresAt) || !now.Before(sess.LastSeenAt.Add(a.policy.Idle)) || e.user.DisabledAt != nil {
		return nil, ErrBadSession
	}
	if now.Sub(sess.LastSeenAt) >= touchEvery {
		a.cache.seen(hash, now)
		a.toucher.touch(sess.ID, now)
	}
	return principal(e.user.ID, sess.ID, e.members, companyHeader), nil
}

// principal builds a user's principal from its memberships and picks the active company.
func principal(userID, sessionID string, ms []*storage.Membership, companyHeader string) *access.Principal {
	p := &access.Principal{UserID: userID, SessionID: sessionID}
	p.Memberships = make(map[string]access.Level, len(ms))
	for _, m := range ms {
		p.Memberships[m.CompanyID] = m.Level
	}
	companyHeader = strings.TrimSpace(companyHeader)
	switch {
	case companyHeader != "":
		if _, err := uuid.Parse(companyHeader); err == nil && p.Memberships[strings.ToLower(companyHeader)] != "" {
			p.CompanyID = strings.ToLower(companyHeader)
		}
	case len(ms) > 0:
		p.CompanyID = ms[0].CompanyID
	}
	p.Level = p.Memberships[p.CompanyID]
	return p
}

// BearerToken extracts the token of an "Authorization: Bearer <token>" header value.
func BearerToken(header string) string {
	const prefix = "bearer "
	if len(header) > len(prefix) && strings.EqualFold(header[:len(prefix)], prefix) {
		return strings.TrimSpace(header[len(prefix):])
	}
	return ""
}
