// Package auth establishes who is calling: sessions, logins, passwords and their throttling.
// It knows nothing of GraphQL; the directives that use what it establishes live in internal/api.
package auth

import (
	"context"
	"strings"
	"time"

	"github.com/google/uuid"

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

// Authenticator turns a bearer token into a principal.
type Authenticator struct {
	store  *storage.Store
	policy SessionPolicy
}

// NewAuthenticator returns an Authenticator over store.
func NewAuthenticator(store *storage.Store, policy SessionPolicy) *Authenticator {
	return &Authenticator{store: store, policy: policy}
}

// ErrBadSession is returned for a token that names no live session. Its message is the same
// whether the token is unknown, expired, revoked or its user disabled.
var ErrBadSession = errs.New(errs.Unauthenticated, "the session is invalid or has expired; log in again")

// Anonymous is the principal of a request without a token.
func Anonymous() *access.Principal { return &access.Principal{} }

// Authenticate checks a bearer token and builds the principal, choosing the active company:
// the X-Company-ID header when the user is a member there; no company (guest only) when the
// header names one it does not belong to; its oldest membership when there is no header.
func (a *Authenticator) Authenticate(ctx context.Context, bearer, companyHeader string) (*access.Principal, error) {
	sess, user, err := a.store.SessionByTokenHash(ctx, token.Hash(bearer))
	if err != nil {
		if errs.KindOf(err) == errs.NotFound {
			return nil, ErrBadSession
		}
		return nil, err
	}
	now := a.store.Now()
	if sess.RevokedAt != nil || !now.Before(sess.ExpiresAt) || !now.Before(sess.LastSeenAt.Add(a.policy.Idle)) || user.DisabledAt != nil {
		return nil, ErrBadSession
	}
	if now.Sub(sess.LastSeenAt) >= touchEvery {
		if err := a.store.TouchSession(ctx, sess.ID, now); err != nil {
			return nil, err
		}
	}
	return a.principal(ctx, user.ID, sess.ID, companyHeader)
}

// principal loads a user's memberships and picks the active company.
func (a *Authenticator) principal(ctx context.Context, userID, sessionID, companyHeader string) (*access.Principal, error) {
	p := &access.Principal{UserID: userID, SessionID: sessionID}
	ms, err := a.store.MembershipsOf(access.NewContext(ctx, p), userID)
	if err != nil {
		return nil, err
	}
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
	return p, nil
}

// BearerToken extracts the token of an "Authorization: Bearer <token>" header value.
func BearerToken(header string) string {
	const prefix = "bearer "
	if len(header) > len(prefix) && strings.EqualFold(header[:len(prefix)], prefix) {
		return strings.TrimSpace(header[len(prefix):])
	}
	return ""
}
