package auth

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/rs/zerolog"

	"github.com/laatu/laatu/internal/access"
	"github.com/laatu/laatu/internal/auth/password"
	"github.com/laatu/laatu/internal/auth/throttle"
	"github.com/laatu/laatu/internal/auth/token"
	"github.com/laatu/laatu/internal/errs"
	"github.com/laatu/laatu/internal/httpx"
	"github.com/laatu/laatu/internal/storage"
)

// Token lifetimes.
const (
	InviteTTL = 7 * 24 * time.Hour
	ResetTTL  = 30 * time.Minute
)

// Event is a security event for the audit log: LOGIN, LOGIN_FAILED, LOGOUT, PASSWORD_CHANGED...
type Event struct {
	Action    string
	UserID    string
	SessionID string
	// Fields are the event's details (the count of LOGIN_THROTTLED).
	Fields []storage.FieldChange
}

// Service logs users in and out, and runs sign-up, invitations and password resets.
type Service struct {
	store   *storage.Store
	hasher  *password.Hasher
	limiter *throttle.Limiter
	policy  SessionPolicy
	baseURL string
	// Shares are counted per sharer and per company: each one mails its grantee.
	sharesBySharer, sharesByCompany *throttle.Quota
	// accounts spaces out the attempts on one account from many addresses; known and
	// throttled serve the login policy (loginlimits.go).
	accounts  *throttle.Limiter
	known     knownAddresses
	throttled throttledLog
	// Log, when set, takes the log lines of work done outside requests.
	Log *zerolog.Logger
	// Record, when set, writes security events to the audit log.
	Record func(ctx context.Context, ev Event) error
	// Throttled, when set, is told of each attempt the back-off refuses (metrics).
	Throttled func()
}

// NewService returns a Service. baseURL builds the links in mails; it is configuration, never
// taken from a request's Host header.
func NewService(store *storage.Store, hasher *password.Hasher, limiter *throttle.Limiter, policy SessionPolicy, baseURL string) *Service {
	return &Service{store: store, hasher: hasher, limiter: limiter, policy: policy, baseURL: strings.TrimRight(baseURL, "/"),
		sharesBySharer:  throttle.NewQuota(SharesPerSharer, ShareWindow, store.Now),
		sharesByCompany: throttle.NewQuota(SharesPerCompany, ShareWindow, store.Now),
		accounts:        NewAccountLimiter(store.Now), known: knownAddresses{ttl: KnownAddressTTL}}
}

// Limits on sharing by email. Every share mails its grantee (an invitation to register, or a
// notice to log in), so these bound the mail one sharer, or one company's people and guests
// together, can make Laatu send to addresses they type; past them share answers RATE_LIMITED.
const (
	SharesPerSharer  = 30
	SharesPerCompany = 300
	ShareWindow      = time.Hour
)

// LoginResult is a new session.
type LoginResult struct {
	Token       string
	ExpiresAt   time.Time
	User        *storage.User
	Memberships []*storage.Membership
}

// errWrongLogin is the one answer to an unknown address, a wrong password and a disabled
// account alike.
var errWrongLogin = errs.New(errs.Unauthenticated, "the email address or the password is wrong")

// Login checks an email and password. Unknown addresses cost the same time as wrong
// passwords (a hash against a dummy). Failures slow down further attempts as loginlimits.go
// says: hard for the address that fails, gently for the account, so that its owner is not
// locked out by someone else's guessing.
func (s *Service) Login(ctx context.Context, email, plain string) (*LoginResult, error) {
	email = storage.NormalizeEmail(email)
	info, _ := httpx.FromContext(ctx)
	addr := info.ClientIP
	keys := []string{"ip:" + addr.String(), "acctip:" + email + "|" + addr.String()}
	acct := "acct:" + email
	if wait, ok := s.limiter.Allow(keys...); !ok {
		return nil, s.throttledAttempt(ctx, email, addr, wait)
	}
	if wait, ok := s.accounts.Allow(acct); !ok {
		return nil, s.throttledAttempt(ctx, email, addr, wait)
	}
	if s.accounts.Failures(acct) >= AccountCeiling && !s.known.has(email, addr, s.store.Now()) {
		// Closed to new addresses until a success or a reset, or the failures are forgotten.
		return nil, s.throttledAttempt(ctx, email, addr, AccountWindow)
	}
	sys := access.AsSystem(ctx, "")
	user, err := s.store.UserByEmail(sys, email)
	if err != nil && errs.KindOf(err) != errs.NotFound {
		return nil, err
	}
	ok := false
	if user == nil || user.PasswordHash == nil {
		if err := s.hasher.VerifyDummy(ctx, plain); err != nil {
			return nil, err
		}
	} else {
		var rehash bool
		ok, rehash, err = s.hasher.Verify(ctx, plain, *user.PasswordHash)
		if err != nil {
			return nil, err
		}
		if ok && rehash {
			if h, err := s.hasher.Hash(ctx, plain); err == nil {
				_ = s.store.SetPassword(sys, user.ID, h)
			}
		}
	}
	if !ok || user.DisabledAt != nil {
		s.limiter.Failure(keys...)
		s.accounts.Failure(acct)
		uid := ""
		if user != nil {
			uid = user.ID
		}
		if err := s.record(ctx, Event{Action: "LOGIN_FAILED", UserID: uid}); err != nil {
			return nil, err
		}
		return nil, errWrongLogin
	}
	// A correct password proves the account's owner, not that the address is not also
	// guessing other accounts: the address's own key stays.
	s.limiter.Success(keys[1])
	s.accounts.Success(acct)
	if addr.IsValid() {
		s.known.add(email, addr, s.store.Now())
	}
	return s.startSession(ctx, user)
}

// countThrottled tells Throttled, when set, of an attempt the back-off refused.
func (s *Service) countThrottled() {
	if s.Throttled != nil {
		s.Throttled()
	}
}

func (s *Service) startSession(ctx context.Context, user *storage.User) (*LoginResult, error) {
	plain, hash, err := token.New(token.SessionPrefix)
	if err != nil {
		return nil, err
	}
	info, _ := httpx.FromContext(ctx)
	now := s.store.Now()
	sess := &storage.Session{ID: storage.NewID(), UserID: user.ID, TokenHash: hash, CreatedAt: now, LastSeenAt: now,
		ExpiresAt: now.Add(s.policy.Absolute), ClientIP: info.ClientIP.String(), UserAgent: truncate(info.UserAgent, 512)}
	if !info.ClientIP.IsValid() {
		sess.ClientIP = ""
	}
	if err := s.store.CreateSession(ctx, sess); err != nil {
		return nil, err
	}
	asUser := access.NewContext(ctx, &access.Principal{UserID: user.ID})
	ms, err := s.store.MembershipsOf(asUser, user.ID)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(ms))
	for i, m := range ms {
		ids[i] = m.CompanyID
	}
	companies, err := s.store.CompaniesByID(asUser, ids)
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		m.Preloaded = companies[m.CompanyID]
	}
	user.IsCaller = true
	if err := s.record(ctx, Event{Action: "LOGIN", UserID: user.ID, SessionID: sess.ID}); err != nil {
		return nil, err
	}
	return &LoginResult{Token: plain, ExpiresAt: sess.ExpiresAt, User: user, Memberships: ms}, nil
}

// Logout ends the caller's session.
func (s *Service) Logout(ctx context.Context) error {
	p := access.FromContext(ctx)
	if _, err := s.store.RevokeSessions(ctx, p.UserID, p.SessionID, ""); err != nil {
		return err
	}
	return s.record(ctx, Event{Action: "LOGOUT", UserID: p.UserID, SessionID: p.SessionID})
}

// RevokeSession ends one of the caller's sessions.
func (s *Service) RevokeSession(ctx context.Context, id string) error {
	p := access.FromContext(ctx)
	if _, err := uuid.Parse(id); err != nil {
		// To the store an empty id means every session: answer it like an unknown one.
		return errs.NotFoundf("session")
	}
	n, err := s.store.RevokeSessions(ctx, p.UserID, id, "")
	if err != nil {
		return err
	}
	if n == 0 {
		return errs.NotFoundf("session")
	}
	return s.record(ctx, Event{Action: "SESSION_REVOKED", UserID: p.UserID, SessionID: id})
}

// ChangePassword sets a new password after checking the current one, and ends the user's
// other sessions.
func (s *Service) ChangePassword(ctx context.Context, current, next string) error {
	p := access.FromContext(ctx)
	sys := access.AsSystem(ctx, "")
	users, err := s.store.UsersByID(sys, []string{p.UserID})
	if err != nil {
		return err
	}
	u := users[p.UserID]
	if u == nil || u.PasswordHash == nil {
		return errWrongLogin
	}
	ok, _, err := s.hasher.Verify(ctx, current, *u.PasswordHash)
	if err != nil {
		return err
	}
	if !ok {
		return errs.Invalid("currentPassword", "the current password is wrong")
	}
	if err := password.Validate(next); err != nil {
		return asField(err, "newPassword")
	}
	h, err := s.hasher.Hash(ctx, next)
	if err != nil {
		return err
	}
	if err := s.store.SetPassword(sys, u.ID, h); err != nil {
		return err
	}
	if _, err := s.store.RevokeSessions(ctx, u.ID, "", p.SessionID); err != nil {
		return err
	}
	return s.record(ctx, Event{Action: "PASSWORD_CHANGED", UserID: u.ID, SessionID: p.SessionID})
}

// SignUp creates a company with its first ADMIN and mails the address a link that confirms
// the sign-up and logs the admin in (acceptInvitation with the mailed token); the account
// cannot log in before. It answers alike whether or not the address has an account: for one
// that has, nothing is created and its owner is mailed that someone tried to sign up with it.
func (s *Service) SignUp(ctx context.Context, companyName, name, email, plain, language string) error {
	info, _ := httpx.FromContext(ctx)
	keys := []string{"signup:" + storage.NormalizeEmail(email), "ip:" + info.ClientIP.String()}
	if wait, ok := s.limiter.Allow(keys...); !ok {
		return &errs.Error{Kind: errs.RateLimited, Message: "too many requests; wait before trying again", RetryAfter: wait}
	}
	if err := password.Validate(plain); err != nil {
		return err
	}
	h, err := s.hasher.Hash(ctx, plain)
	if err != nil {
		return err
	}
	u, err := s.store.SignUp(ctx, storage.NewUser{Email: email, Name: name, Language: language}, companyName)
	if errors.Is(err, storage.ErrEmailTaken) {
		s.limiter.Failure(keys[0]) // mails to the owner of an address are rationed like resets
		owner, err := s.store.UserByEmail(access.AsSystem(ctx, ""), email)
		if err != nil {
			return err
		}
		t := templates(owner.Language)["taken"]
		return s.store.QueueMail(ctx, &storage.OutboxEmail{Recipient: owner.Email, Subject: t.subject,
			Body: fmt.Sprintf(t.body, s.baseURL+"/reset-password")})
	}
	if err != nil {
		return err
	}
	s.limiter.Failure(keys[0])
	tok, hash, err := token.New(token.InvitePrefix)
	if err != nil {
		return err
	}
	t := &storage.UserToken{UserID: u.ID, Purpose: storage.PurposeInvite, TokenHash: hash, ExpiresAt: s.store.Now().Add(InviteTTL), PasswordHash: &h}
	return s.store.IssueToken(ctx, t, s.mail(u.Email, language, "signup", tok))
}

// userFor finds the user of an address, creating one without a password when there is none
// (an invited person registers by setting a password through the mailed link).
func (s *Service) userFor(ctx context.Context, email, language string) (*storage.User, bool, error) {
	sys := access.AsSystem(ctx, "")
	u, err := s.store.UserByEmail(sys, email)
	if err == nil {
		return u, false, nil
	}
	if errs.KindOf(err) != errs.NotFound {
		return nil, false, err
	}
	name := storage.NormalizeEmail(email)
	if at := strings.IndexByte(name, '@'); at > 0 {
		name = name[:at]
	}
	u, err = s.store.CreateUser(ctx, storage.NewUser{Email: email, Name: name, Language: language})
	return u, true, err
}

// InviteMember invites someone to the active company at a level.
func (s *Service) InviteMember(ctx context.Context, email string, level access.Level, language string) error {
	u, _, err := s.userFor(ctx, email, language)
	if err != nil {
		return err
	}
	plain, hash, err := token.New(token.InvitePrefix)
	if err != nil {
		return err
	}
	t := &storage.UserToken{UserID: u.ID, Purpose: storage.PurposeInvite, TokenHash: hash, ExpiresAt: s.store.Now().Add(InviteTTL)}
	return s.store.Invite(ctx, u.ID, level, t, s.mail(u.Email, language, "invite", plain))
}

// Share shares an object with a person by email, inviting those without an account. It
// answers alike whether or not the address has an account: the same grant, and the same mail
// sent (an invitation to register, or a notice to log in), so a sharer cannot learn from it
// who has an account (the grant shows its grantee by the address typed; see Grant.grantee).
func (s *Service) Share(ctx context.Context, objectID, email string, level access.Right, expiresAt *time.Time, language string) (*storage.Grant, error) {
	if !storage.ValidEmail(storage.NormalizeEmail(email)) {
		return nil, errs.Invalid("email", "that is not an email address")
	}
	// Check the right to share before creating anything for the address.
	obj, err := s.store.CanShare(ctx, objectID, level)
	if err != nil {
		return nil, err
	}
	p := access.FromContext(ctx)
	if wait, ok := s.sharesBySharer.Take("sharer:" + p.UserID); !ok {
		return nil, &errs.Error{Kind: errs.RateLimited, Message: "too many shares; wait before sharing again", RetryAfter: wait}
	}
	if wait, ok := s.sharesByCompany.Take("company:" + obj.ObjectCompanyID()); !ok {
		return nil, &errs.Error{Kind: errs.RateLimited, Message: "too many shares; wait before sharing again", RetryAfter: wait}
	}
	u, created, err := s.userFor(ctx, email, language)
	if err != nil {
		return nil, err
	}
	g, err := s.store.Share(ctx, storage.NewGrant{ObjectID: objectID, GranteeID: u.ID, Level: level, ExpiresAt: expiresAt})
	if err != nil {
		return nil, err
	}
	if !created && u.PasswordHash != nil {
		// The mail is the only place where an address's owner is told it has an account.
		if err := s.store.QueueMail(ctx, s.notice(u.Email, u.Language)); err != nil {
			return nil, err
		}
		return g, nil
	}
	plain, hash, err := token.New(token.InvitePrefix)
	if err != nil {
		return nil, err
	}
	t := &storage.UserToken{UserID: u.ID, Purpose: storage.PurposeInvite, TokenHash: hash, ExpiresAt: s.store.Now().Add(InviteTTL)}
	if err := s.store.IssueToken(ctx, t, s.mail(u.Email, language, "share", plain)); err != nil {
		return nil, err
	}
	return g, nil
}

// AcceptInvitation sets the invitee's password with the mailed token, turns pending
// invitations into memberships, and logs the user in. The token of a sign-up carries the
// password chosen then, and plain may be nil for it.
func (s *Service) AcceptInvitation(ctx context.Context, tok string, plain, name *string) (*LoginResult, error) {
	var t *storage.UserToken
	var h string
	if plain == nil {
		var err error
		if t, err = s.store.UseSignUpToken(ctx, token.Hash(tok)); err != nil {
			return nil, err
		}
		h = *t.PasswordHash
	} else {
		if err := password.Validate(*plain); err != nil {
			return nil, err
		}
		var err error
		if h, err = s.hasher.Hash(ctx, *plain); err != nil {
			return nil, err
		}
		if t, err = s.store.UseToken(ctx, storage.PurposeInvite, token.Hash(tok)); err != nil {
			return nil, err
		}
	}
	sys := access.AsSystem(ctx, "")
	if err := s.store.SetPassword(sys, t.UserID, h); err != nil {
		return nil, err
	}
	if name != nil && strings.TrimSpace(*name) != "" {
		if err := s.store.SetName(sys, t.UserID, strings.TrimSpace(*name)); err != nil {
			return nil, err
		}
	}
	if err := s.store.AcceptInvitations(ctx, t.UserID); err != nil {
		return nil, err
	}
	users, err := s.store.UsersByID(sys, []string{t.UserID})
	if err != nil || users[t.UserID] == nil {
		return nil, fmt.Errorf("accept invitation: user vanished: %w", err)
	}
	return s.startSession(ctx, users[t.UserID])
}

// RequestPasswordReset mails a reset link when the address has an account, and answers the
// same either way.
func (s *Service) RequestPasswordReset(ctx context.Context, email string) error {
	info, _ := httpx.FromContext(ctx)
	keys := []string{"reset:" + storage.NormalizeEmail(email), "ip:" + info.ClientIP.String()}
	if wait, ok := s.limiter.Allow(keys...); !ok {
		s.countThrottled()
		return &errs.Error{Kind: errs.RateLimited, Message: "too many requests; wait before trying again", RetryAfter: wait}
	}
	s.limiter.Failure(keys[0]) // every request counts against the address, so it cannot be mail-bombed
	u, err := s.store.UserByEmail(access.AsSystem(ctx, ""), email)
	if errs.KindOf(err) == errs.NotFound || (err == nil && u.DisabledAt != nil) {
		return nil
	}
	if err != nil {
		return err
	}
	plain, hash, err := token.New(token.ResetPrefix)
	if err != nil {
		return err
	}
	t := &storage.UserToken{UserID: u.ID, Purpose: storage.PurposeReset, TokenHash: hash, ExpiresAt: s.store.Now().Add(ResetTTL)}
	return s.store.IssueToken(ctx, t, s.mail(u.Email, u.Language, "reset", plain))
}

// ResetPassword sets a new password with a reset token and ends every session of the account.
func (s *Service) ResetPassword(ctx context.Context, tok, plain string) error {
	if err := password.Validate(plain); err != nil {
		return err
	}
	h, err := s.hasher.Hash(ctx, plain)
	if err != nil {
		return err
	}
	t, err := s.store.UseToken(ctx, storage.PurposeReset, token.Hash(tok))
	if err != nil {
		return err
	}
	if err := s.store.SetPassword(access.AsSystem(ctx, ""), t.UserID, h); err != nil {
		return err
	}
	if _, err := s.store.RevokeSessions(ctx, t.UserID, "", ""); err != nil {
		return err
	}
	// A reset proves the mailbox: the account's guessed-at count starts again.
	if users, err := s.store.UsersByID(access.AsSystem(ctx, ""), []string{t.UserID}); err == nil && users[t.UserID] != nil {
		s.accounts.Success("acct:" + users[t.UserID].Email)
	}
	return s.record(ctx, Event{Action: "PASSWORD_CHANGED", UserID: t.UserID})
}

func (s *Service) record(ctx context.Context, ev Event) error {
	if s.Record == nil {
		return nil
	}
	return s.Record(ctx, ev)
}

// mail builds a mail carrying a link with a token. The token travels in the URL fragment,
// which browsers do not send to servers or in Referer headers.
func (s *Service) mail(to, language, kind, tok string) *storage.OutboxEmail {
	link := s.baseURL + "/" + map[string]string{"invite": "accept-invitation", "share": "accept-invitation", "signup": "accept-invitation", "reset": "reset-password"}[kind] +
		"#token=" + url.QueryEscape(tok)
	t := templates(language)[kind]
	return &storage.OutboxEmail{Recipient: to, Subject: t.subject, Body: fmt.Sprintf(t.body, link)}
}

// notice builds the mail telling someone with an account that something was shared with it.
func (s *Service) notice(to, language string) *storage.OutboxEmail {
	t := templates(language)["shared"]
	return &storage.OutboxEmail{Recipient: to, Subject: t.subject, Body: fmt.Sprintf(t.body, s.baseURL+"/")}
}

type mailText struct{ subject, body string }

func templates(language string) map[string]mailText {
	if strings.HasPrefix(language, "fi") {
		return map[string]mailText{
			"invite": {"Kutsu Laatuun", "Sinut on kutsuttu Laatuun. Aseta salasanasi tästä linkistä (voimassa 7 päivää):\n\n%s\n"},
			"share":  {"Sinulle on jaettu asiakirjoja Laatussa", "Sinulle on jaettu asiakirjoja Laatussa. Rekisteröidy tästä linkistä (voimassa 7 päivää):\n\n%s\n"},
			"signup": {"Vahvista Laatu-rekisteröitymisesi", "Vahvista rekisteröitymisesi ja kirjaudu sisään tästä linkistä (voimassa 7 päivää):\n\n%s\n"},
			"taken":  {"Laatu-rekisteröityminen", "Joku yritti rekisteröityä Laatuun tällä osoitteella, jolla on jo tili. Jos se olit sinä, kirjaudu sisään tai vaihda salasanasi:\n\n%s\n\nMuuten voit jättää tämän viestin huomiotta.\n"},
			"shared": {"Sinulle on jaettu asiakirjoja Laatussa", "Sinulle on jaettu asiakirjoja Laatussa. Kirjaudu sisään nähdäksesi ne:\n\n%s\n"},
			"reset":  {"Laatu-salasanan vaihto", "Vaihda salasanasi tästä linkistä (voimassa 30 minuuttia):\n\n%s\n\nJos et pyytänyt vaihtoa, voit jättää tämän viestin huomiotta.\n"},
		}
	}
	return map[string]mailText{
		"invite": {"You are invited to Laatu", "You have been invited to Laatu. Set your password with this link (valid for 7 days):\n\n%s\n"},
		"share":  {"Documents were shared with you on Laatu", "Documents were shared with you on Laatu. Register with this link (valid for 7 days):\n\n%s\n"},
		"signup": {"Confirm your Laatu sign-up", "Confirm your sign-up and log in with this link (valid for 7 days):\n\n%s\n"},
		"taken":  {"Signing up to Laatu", "Someone tried to sign up to Laatu with this address, which already has an account. If it was you, log in or reset your password:\n\n%s\n\nOtherwise ignore this mail.\n"},
		"shared": {"Documents were shared with you on Laatu", "Documents were shared with you on Laatu. Log in to see them:\n\n%s\n"},
		"reset":  {"Reset your Laatu password", "Reset your password with this link (valid for 30 minutes):\n\n%s\n\nIf you did not ask for this, ignore this mail.\n"},
	}
}

func asField(err error, field string) error {
	if e, ok := errs.As(err); ok && e.Kind == errs.BadUserInput {
		c := *e
		c.Field = field
		return &c
	}
	return err
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
