package e2e

// Identity through GraphQL: sessions and their tokens, failed logins and their throttling,
// expiry and revocation, password changes and rules, sign-up, invitations and resets.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/laatu/laatu/internal/auth/token"
	"github.com/laatu/laatu/internal/config"
	"github.com/laatu/laatu/internal/testserver"
)

const aLoginQuery = `mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token expiresAt user { id } memberships { level } } }`

// aTryLogin sends one login, from ip when not empty (the server must trust the loopback proxy).
func aTryLogin(t *testing.T, s *testserver.Server, email, password, ip string) *testserver.Response {
	t.Helper()
	req := testserver.Request{Query: aLoginQuery, Variables: map[string]any{"e": email, "p": password}}
	if ip != "" {
		req.Headers = map[string]string{"X-Forwarded-For": ip}
	}
	return s.Do(t, req, nil)
}

// aStatus sends a request with a token and returns the HTTP status and the codes.
func aStatus(t *testing.T, s *testserver.Server, tok string) (int, []string) {
	t.Helper()
	res := s.Do(t, testserver.Request{Query: `{ viewer { user { id } } }`, Token: tok}, nil)
	return res.Status, res.Codes()
}

// aRevoked checks that a token is answered 401 UNAUTHENTICATED.
func aRevoked(t *testing.T, s *testserver.Server, tok, why string) {
	t.Helper()
	if status, codes := aStatus(t, s, tok); status != http.StatusUnauthorized || fmt.Sprint(codes) != "[UNAUTHENTICATED]" {
		t.Errorf("%s: status %d, codes %v; want 401 UNAUTHENTICATED", why, status, codes)
	}
}

// aAlive checks that a token still works.
func aAlive(t *testing.T, s *testserver.Server, tok, why string) {
	t.Helper()
	if status, codes := aStatus(t, s, tok); status != http.StatusOK || len(codes) > 0 {
		t.Errorf("%s: status %d, codes %v; want the session alive", why, status, codes)
	}
}

func TestAuthzLoginToken(t *testing.T) {
	s := testserver.New(t)
	var data struct {
		Login struct {
			Token       string
			ExpiresAt   time.Time
			User        struct{ ID string }
			Memberships []struct{ Level string }
		}
	}
	res := s.Do(t, testserver.Request{Query: aLoginQuery, Variables: map[string]any{"e": "Admin@Acme.test ", "p": aDemoPassword}}, &data)
	testserver.MustOK(t, res)
	tok := data.Login.Token
	secret, ok := strings.CutPrefix(tok, token.SessionPrefix)
	raw, err := base64.RawURLEncoding.DecodeString(secret)
	if !ok || err != nil || len(raw) < 16 {
		t.Fatalf("token %q: want lts_ and at least 128 random bits", tok)
	}
	if len(data.Login.Memberships) != 1 || data.Login.Memberships[0].Level != "ADMIN" {
		t.Errorf("memberships: %+v", data.Login.Memberships)
	}
	var stored [][]byte
	aSQL(t, s, &stored, "SELECT token_hash FROM sessions WHERE user_id = ?", data.Login.User.ID)
	if len(stored) != 1 {
		t.Fatalf("%d sessions stored", len(stored))
	}
	if bytes.Equal(stored[0], []byte(tok)) || bytes.Contains(stored[0], raw) || !bytes.Equal(stored[0], token.Hash(tok)) {
		t.Errorf("sessions.token_hash is not the token's hash: %x", stored[0])
	}
	aAlive(t, s, tok, "a fresh token")
	aRevoked(t, s, tok+"x", "a token one character longer")
	aRevoked(t, s, token.SessionPrefix+base64.RawURLEncoding.EncodeToString(make([]byte, 32)), "a made-up token")
}

func TestAuthzWrongPasswordAndUnknownEmailAlike(t *testing.T) {
	s := testserver.New(t)
	wrong := aTryLogin(t, s, "admin@acme.test", "not the password", "")
	unknown := aTryLogin(t, s, "nobody@acme.test", "not the password", "")
	if aOutcome(wrong, "login") != aUnauth || aShape(wrong) != aShape(unknown) {
		t.Errorf("wrong password and unknown address answered differently:\n%s\n%s", aShape(wrong), aShape(unknown))
	}
}

func TestAuthzLoginThrottling(t *testing.T) {
	s := testserver.New(t, func(c *config.Config) { c.TrustedProxies = []string{"127.0.0.1", "::1"} })
	limited := func(t *testing.T, res *testserver.Response, what string) {
		t.Helper()
		if aOutcome(res, "login") != "RATE_LIMITED" {
			t.Fatalf("%s: %s, want RATE_LIMITED", what, aShape(res))
		}
		if n, ok := res.Errors[0].Extensions["retryAfterSeconds"].(float64); !ok || n < 1 {
			t.Errorf("%s: retryAfterSeconds %v", what, res.Errors[0].Extensions["retryAfterSeconds"])
		}
	}

	t.Run("per account and address", func(t *testing.T) {
		// One address guesses one account: its sixth attempt is refused, even with the right
		// password; the account's owner, from another address, is not.
		for i := 1; i <= 5; i++ {
			if res := aTryLogin(t, s, "member@acme.test", "guess", "10.1.0.1"); aOutcome(res, "login") != aUnauth {
				t.Fatalf("failure %d: %s", i, aShape(res))
			}
		}
		limited(t, aTryLogin(t, s, "member@acme.test", aDemoPassword, "10.1.0.1"), "sixth attempt from the address")
		if res := aTryLogin(t, s, "member@acme.test", aDemoPassword, "10.1.0.99"); aOutcome(res, "login") != aData {
			t.Errorf("the owner from another address: %s", aShape(res))
		}
	})
	t.Run("per client address", func(t *testing.T) {
		// One address tries five accounts: its sixth attempt is refused, whatever the account.
		for i := 1; i <= 5; i++ {
			if res := aTryLogin(t, s, fmt.Sprintf("nobody%d@acme.test", i), "guess", "10.2.0.1"); aOutcome(res, "login") != aUnauth {
				t.Fatalf("failure %d: %s", i, aShape(res))
			}
		}
		limited(t, aTryLogin(t, s, "admin@acme.test", aDemoPassword, "10.2.0.1"), "sixth attempt from the address")
		if res := aTryLogin(t, s, "admin@acme.test", aDemoPassword, "10.2.0.2"); aOutcome(res, "login") != aData {
			t.Errorf("the same account from another address: %s", aShape(res))
		}
	})
}

func TestAuthzOneLoginPerRequest(t *testing.T) {
	s := testserver.New(t)
	for name, q := range map[string]string{
		"aliases": `mutation { a: login(email: "admin@acme.test", password: "x1234567") { token } b: login(email: "admin@acme.test", password: "y1234567") { token } }`,
		"fragments": `mutation { ...A ...B }
			fragment A on Mutation { a: login(email: "admin@acme.test", password: "x1234567") { token } }
			fragment B on Mutation { b: login(email: "admin@acme.test", password: "y1234567") { token } }`,
	} {
		res := s.Do(t, testserver.Request{Query: q}, nil)
		if len(res.Errors) != 1 || res.Errors[0].Code() != aBad || res.Errors[0].Extensions["reason"] != "QUERY_LIMIT" || string(res.Data) != "" && string(res.Data) != "null" {
			t.Errorf("%s: %s, want one BAD_USER_INPUT (QUERY_LIMIT) and no data", name, aShape(res))
		}
	}
	// Nothing was tried: the account is not one failure closer to being locked.
	for range 5 {
		if res := aTryLogin(t, s, "admin@acme.test", "not it", ""); aOutcome(res, "login") != aUnauth {
			t.Fatalf("%s", aShape(res))
		}
	}
	if res := aTryLogin(t, s, "admin@acme.test", aDemoPassword, ""); aOutcome(res, "login") != "RATE_LIMITED" {
		t.Errorf("the sixth failure in a row is not refused, so the refused requests did not count: %s", aShape(res))
	}
}

func TestAuthzLogoutAndSessions(t *testing.T) {
	s := testserver.New(t)
	first := aLogin(t, s, "member@acme.test", aDemoPassword)
	second := aLogin(t, s, "member@acme.test", aDemoPassword)
	other := aLogin(t, s, "manager@acme.test", aDemoPassword)

	type session struct {
		ID      string
		Current bool
	}
	sessions := func(tok string) []session {
		var data struct{ Sessions []session }
		testserver.MustOK(t, s.Do(t, testserver.Request{Query: `{ sessions { id current } }`, Token: tok}, &data))
		return data.Sessions
	}
	mine := sessions(first)
	var current, secondID string
	for _, x := range mine {
		if x.Current {
			current = x.ID
		} else {
			secondID = x.ID
		}
	}
	if len(mine) != 2 || current == "" || secondID == "" {
		t.Fatalf("sessions: %+v, want two, one of them current", mine)
	}
	managers := sessions(other)

	// Another user's session is not the caller's to end, and is answered like a random id.
	theirs := s.Do(t, testserver.Request{Query: `mutation($id: ID!) { revokeSession(id: $id) }`, Variables: map[string]any{"id": managers[0].ID}, Token: first}, nil)
	random := s.Do(t, testserver.Request{Query: `mutation($id: ID!) { revokeSession(id: $id) }`, Variables: map[string]any{"id": current[:30] + "000000"}, Token: first}, nil)
	if aOutcome(theirs, "revokeSession") != aNF || aShape(theirs) != aShape(random) {
		t.Errorf("revoking another user's session:\n%s\nrandom id:\n%s", aShape(theirs), aShape(random))
	}
	aAlive(t, s, other, "the other user's session")

	testserver.MustOK(t, s.Do(t, testserver.Request{Query: `mutation($id: ID!) { revokeSession(id: $id) }`, Variables: map[string]any{"id": secondID}, Token: first}, nil))
	aRevoked(t, s, second, "a revoked session")
	aAlive(t, s, first, "the session that revoked another")
	if got := sessions(first); len(got) != 1 || !got[0].Current {
		t.Errorf("sessions after revoking: %+v", got)
	}

	testserver.MustOK(t, s.Do(t, testserver.Request{Query: `mutation { logout }`, Token: first}, nil))
	aRevoked(t, s, first, "after logout")
	aAlive(t, s, other, "another user's session after a logout")
}

func TestAuthzSessionExpiry(t *testing.T) {
	s := testserver.New(t, func(c *config.Config) { c.SessionIdle, c.SessionAbsolute = 10*time.Minute, time.Hour })
	var data struct {
		Login struct {
			Token     string
			ExpiresAt time.Time
			User      struct{ ID string }
		}
	}
	login := func() (string, string) {
		testserver.MustOK(t, s.Do(t, testserver.Request{Query: aLoginQuery, Variables: map[string]any{"e": "member@acme.test", "p": aDemoPassword}}, &data))
		var id []string
		aSQL(t, s, &id, "SELECT id FROM sessions WHERE token_hash = ?", token.Hash(data.Login.Token))
		return data.Login.Token, id[0]
	}
	t.Run("absolute", func(t *testing.T) {
		tok, id := login()
		if d := time.Until(data.Login.ExpiresAt); d < 55*time.Minute || d > 65*time.Minute {
			t.Errorf("expiresAt is %v away, want the configured hour", d)
		}
		aAlive(t, s, tok, "a new session")
		// The server caches sessions and learns of its own changes to them; one made behind its
		// back is seen once the cache forgets it (at most seconds later), here at once.
		aExec(t, s, "UPDATE sessions SET expires_at = ? WHERE id = ?", time.Now().Add(-time.Second).UTC(), id)
		s.App.Sessions.Invalidate("")
		aRevoked(t, s, tok, "past its absolute expiry")
	})
	t.Run("idle", func(t *testing.T) {
		tok, id := login()
		aExec(t, s, "UPDATE sessions SET last_seen_at = ? WHERE id = ?", time.Now().Add(-5*time.Minute).UTC(), id)
		s.App.Sessions.Invalidate("")
		aAlive(t, s, tok, "used 5 minutes ago, idle limit 10")
		// Its use was recorded in the background; set the clock back once that has happened.
		deadline := time.Now().Add(30 * time.Second)
		for {
			var seen []time.Time
			aSQL(t, s, &seen, "SELECT last_seen_at FROM sessions WHERE id = ?", id)
			if time.Since(seen[0]) < time.Minute {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the session's use was not recorded: last seen %v", seen[0])
			}
			time.Sleep(10 * time.Millisecond)
		}
		aExec(t, s, "UPDATE sessions SET last_seen_at = ? WHERE id = ?", time.Now().Add(-11*time.Minute).UTC(), id)
		s.App.Sessions.Invalidate("")
		aRevoked(t, s, tok, "unused for 11 minutes, idle limit 10")
	})
}

func TestAuthzChangePassword(t *testing.T) {
	s := testserver.New(t)
	here := aLogin(t, s, "member@acme.test", aDemoPassword)
	elsewhere := aLogin(t, s, "member@acme.test", aDemoPassword)
	change := func(current, next string) *testserver.Response {
		return s.Do(t, testserver.Request{Query: `mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) }`,
			Variables: map[string]any{"c": current, "n": next}, Token: here}, nil)
	}
	res := change("not the password", aPassword)
	if aOutcome(res, "changePassword") != aBad || res.Errors[0].Extensions["field"] != "currentPassword" {
		t.Errorf("wrong current password: %s", aShape(res))
	}
	aAlive(t, s, elsewhere, "after a refused change")
	if res := change(aDemoPassword, "short"); aOutcome(res, "changePassword") != aBad {
		t.Errorf("too short a new password: %s", aShape(res))
	}
	testserver.MustOK(t, change(aDemoPassword, aPassword))
	aAlive(t, s, here, "the session that changed the password")
	aRevoked(t, s, elsewhere, "another session after a password change")
	if res := aTryLogin(t, s, "member@acme.test", aDemoPassword, ""); aOutcome(res, "login") != aUnauth {
		t.Errorf("the old password: %s", aShape(res))
	}
	aLogin(t, s, "member@acme.test", aPassword)
}

func TestAuthzDisableUser(t *testing.T) {
	s := testserver.New(t)
	admin := s.Login(t, "admin@acme.test")
	one, two := aLogin(t, s, "member@acme.test", aDemoPassword), aLogin(t, s, "member@acme.test", aDemoPassword)
	var member []string
	aSQL(t, s, &member, "SELECT id FROM users WHERE email = 'member@acme.test'")
	disable := func(tok, id string) *testserver.Response {
		return s.Do(t, testserver.Request{Query: `mutation($u: ID!) { disableUser(userId: $u) }`, Variables: map[string]any{"u": id}, Token: tok}, nil)
	}
	if res := disable(one, member[0]); aOutcome(res, "disableUser") != aForb {
		t.Errorf("a member disabling: %s", aShape(res))
	}
	var admins []string
	aSQL(t, s, &admins, "SELECT id FROM users WHERE email = 'admin@acme.test'")
	if res := disable(admin, admins[0]); aOutcome(res, "disableUser") != aBad {
		t.Errorf("the admin disabling itself: %s", aShape(res))
	}
	testserver.MustOK(t, disable(admin, member[0]))
	aRevoked(t, s, one, "a disabled user's first session")
	aRevoked(t, s, two, "a disabled user's second session")
	disabled := aTryLogin(t, s, "member@acme.test", aDemoPassword, "")
	unknown := aTryLogin(t, s, "nobody@acme.test", aDemoPassword, "")
	if aOutcome(disabled, "login") != aUnauth || aShape(disabled) != aShape(unknown) {
		t.Errorf("a disabled user's login differs from an unknown address's:\n%s\n%s", aShape(disabled), aShape(unknown))
	}
}

func TestAuthzPasswordRules(t *testing.T) {
	s := testserver.New(t)
	for i, c := range []struct {
		name, password string
		ok             bool
	}{
		{"7 characters", "abc4567", false},
		{"8 characters", "abc45678", true},
		{"a common password", "password123", false},
		{"a common password, capitalised", "Password123", false},
		{"256 Unicode characters", strings.Repeat("ä", 128) + strings.Repeat("😀", 128), true},
		{"257 characters", strings.Repeat("ä", 257), false},
		{"spaces only, 8 of them", "        ", true},
	} {
		res := s.Do(t, testserver.Request{Query: `mutation($in: SignUpInput!) { signUp(input: $in) }`,
			Variables: map[string]any{"in": map[string]any{"companyName": "Rules Oy", "name": "R",
				"email": fmt.Sprintf("rules%d@rules.test", i), "password": c.password}}}, nil)
		if got := aOutcome(res, "signUp") == aData; got != c.ok {
			t.Errorf("%s: %s", c.name, aShape(res))
		}
		if c.ok {
			aConfirmSignUp(t, s, fmt.Sprintf("rules%d@rules.test", i))
			aLogin(t, s, fmt.Sprintf("rules%d@rules.test", i), c.password) // stored whole, not truncated
		}
	}
}

// aConfirmSignUp uses the link mailed at sign-up to email, and returns the session token.
func aConfirmSignUp(t testing.TB, s *testserver.Server, email string) string {
	t.Helper()
	var data struct{ AcceptInvitation struct{ Token string } }
	testserver.MustOK(t, s.Do(t, testserver.Request{Query: `mutation($t: String!) { acceptInvitation(token: $t) { token } }`,
		Variables: map[string]any{"t": aMailToken(t, s, email)}}, &data))
	return data.AcceptInvitation.Token
}

func TestAuthzSignUp(t *testing.T) {
	s := testserver.New(t)
	signUp := func(email string) *testserver.Response {
		return s.Do(t, testserver.Request{Query: `mutation($in: SignUpInput!) { signUp(input: $in) }`,
			Variables: map[string]any{"in": map[string]any{"companyName": "New Oy", "name": "Nea", "email": email, "password": aPassword}}}, nil)
	}
	// A fresh address and one with an account are answered alike; the owner of the taken one
	// is mailed, and nothing is created for it.
	fresh, taken := signUp("nea@new.test"), signUp("Admin@Acme.test")
	if string(fresh.Data) != `{"signUp":true}` || aShape(fresh) != aShape(taken) {
		t.Errorf("sign-up with a fresh and a taken address differ:\n%s\n%s", aShape(fresh), aShape(taken))
	}
	if body := aMailBody(t, s, "admin@acme.test"); !strings.Contains(body, "already has an account") || strings.Contains(body, "token=") {
		t.Errorf("mail to the owner of a taken address: %q", body)
	}
	var companies []int
	aSQL(t, s, &companies, "SELECT count(*) FROM companies WHERE name = 'New Oy'")
	if companies[0] != 1 {
		t.Errorf("%d companies New Oy, want the fresh address's only", companies[0])
	}
	// Until the mailed link is used, the new account cannot log in: a login cannot tell
	// whether the sign-up found the address fresh.
	if res := aTryLogin(t, s, "nea@new.test", aPassword, ""); aOutcome(res, "login") != aUnauth {
		t.Errorf("login before confirming: %s", aShape(res))
	}
	tok := aConfirmSignUp(t, s, "nea@new.test")
	var v struct {
		Viewer struct {
			Level         string
			ActiveCompany struct{ Name string }
		}
		Documents struct{ TotalCount int }
	}
	testserver.MustOK(t, s.Do(t, testserver.Request{Query: `{ viewer { level activeCompany { name } } documents { totalCount } }`, Token: tok}, &v))
	if v.Viewer.Level != "ADMIN" || v.Viewer.ActiveCompany.Name != "New Oy" || v.Documents.TotalCount != 0 {
		t.Errorf("the new admin: %+v", v)
	}
	aLogin(t, s, "nea@new.test", aPassword)
	// A confirmed address signing up again is answered alike too, and its owner mailed.
	if again := signUp("nea@new.test"); aShape(again) != aShape(fresh) {
		t.Errorf("sign-up again: %s", aShape(again))
	}
	// A plain invitation's token is not a sign-up's: without a password it is refused, and kept.
	admin := s.Login(t, "admin@acme.test")
	testserver.MustOK(t, s.Do(t, testserver.Request{Query: `mutation { inviteMember(email: "pending@acme.test", level: MEMBER) }`, Token: admin}, nil))
	inv := aMailToken(t, s, "pending@acme.test")
	if res := s.Do(t, testserver.Request{Query: `mutation($t: String!) { acceptInvitation(token: $t) { token } }`, Variables: map[string]any{"t": inv}}, nil); aOutcome(res, "acceptInvitation") != aBad {
		t.Errorf("an invitation without a password: %s", aShape(res))
	}
	testserver.MustOK(t, s.Do(t, testserver.Request{Query: `mutation($t: String!, $p: String!) { acceptInvitation(token: $t, password: $p) { token } }`,
		Variables: map[string]any{"t": inv, "p": aPassword}}, nil))
}

func TestInviteMemberAnswersAlikeForKnownAndUnknownAddresses(t *testing.T) {
	s := testserver.New(t)
	admin := s.Login(t, "admin@acme.test")
	invite := func(email string) *testserver.Response {
		return s.Do(t, testserver.Request{Query: `mutation($e: String!) { inviteMember(email: $e, level: MEMBER) }`, Token: admin,
			Variables: map[string]any{"e": email}}, nil)
	}
	known, unknown := invite("member@beta.test"), invite("nobody@beta.test")
	if string(known.Data) != `{"inviteMember":true}` || aShape(known) != aShape(unknown) {
		t.Errorf("inviting a known and an unknown address:\n%s\n%s", aShape(known), aShape(unknown))
	}
	for _, email := range []string{"member@beta.test", "nobody@beta.test"} {
		if n := aMailCount(t, s, email); n != 1 {
			t.Errorf("%d mails to %s", n, email)
		}
	}
	// Pending invitees are not members: the list does not name the outsider.
	var m struct {
		Members struct {
			Edges []struct {
				Node struct{ User struct{ Email *string } }
			}
		}
	}
	testserver.MustOK(t, s.Do(t, testserver.Request{Query: `{ members(first: 100) { edges { node { user { email } } } } }`, Token: admin}, &m))
	for _, e := range m.Members.Edges {
		if u := e.Node.User.Email; u != nil && strings.HasSuffix(*u, "@beta.test") {
			t.Errorf("members lists %s before it accepted", *u)
		}
	}
}

func TestAuthzInvitation(t *testing.T) {
	s := testserver.New(t, func(c *config.Config) { c.BaseURL = "https://laatu.example.test/" })
	admin := s.Login(t, "admin@acme.test")
	testserver.MustOK(t, s.Do(t, testserver.Request{Query: `mutation { inviteMember(email: "Newbie@Acme.test", level: MANAGER, language: "fi") }`, Token: admin}, nil))
	body := aMailBody(t, s, "newbie@acme.test")
	if !strings.Contains(body, "https://laatu.example.test/accept-invitation#token=") || !strings.Contains(body, "Laatu") {
		t.Errorf("invitation mail: %q", body)
	}
	tok := aMailToken(t, s, "newbie@acme.test")
	if res := s.Do(t, testserver.Request{Query: aLoginQuery, Variables: map[string]any{"e": "newbie@acme.test", "p": aPassword}}, nil); aOutcome(res, "login") != aUnauth {
		t.Errorf("login before accepting: %s", aShape(res))
	}
	accept := func(tok string) *testserver.Response {
		return s.Do(t, testserver.Request{Query: `mutation($t: String!, $p: String!) { acceptInvitation(token: $t, password: $p, name: "Niina") { token user { name } memberships { level company { id } } } }`,
			Variables: map[string]any{"t": tok, "p": aPassword}}, nil)
	}
	res := accept(tok)
	testserver.MustOK(t, res)
	var data struct {
		AcceptInvitation struct {
			Token       string
			User        struct{ Name string }
			Memberships []struct {
				Level   string
				Company struct{ ID string }
			}
		}
	}
	_ = json.Unmarshal(res.Data, &data)
	ms := data.AcceptInvitation.Memberships
	if len(ms) != 1 || ms[0].Level != "MANAGER" || ms[0].Company.ID != s.Demo.Companies["Acme Construction"] || data.AcceptInvitation.User.Name != "Niina" {
		t.Errorf("accepted invitation: %s", res.Data)
	}
	var v struct{ Viewer struct{ Level string } }
	testserver.MustOK(t, s.Do(t, testserver.Request{Query: `{ viewer { level } }`, Token: data.AcceptInvitation.Token}, &v))
	if v.Viewer.Level != "MANAGER" {
		t.Errorf("the new member's level: %q", v.Viewer.Level)
	}
	if res := accept(tok); aOutcome(res, "acceptInvitation") != aBad {
		t.Errorf("the token used again: %s", aShape(res))
	}
	aLogin(t, s, "newbie@acme.test", aPassword)
	// Inviting someone who is already a member is a conflict.
	if res := s.Do(t, testserver.Request{Query: `mutation { inviteMember(email: "newbie@acme.test", level: MEMBER) }`, Token: admin}, nil); aOutcome(res, "inviteMember") != aConfl {
		t.Errorf("inviting a member: %s", aShape(res))
	}
}

// aPostWithHost sends a GraphQL request whose Host (and X-Forwarded-Host) header is forged.
func aPostWithHost(t *testing.T, s *testserver.Server, host, query string, vars map[string]any) *testserver.Response {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, err := http.NewRequest(http.MethodPost, s.URL+"/graphql", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-Host", host)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out := &testserver.Response{Status: res.StatusCode}
	if err := json.NewDecoder(res.Body).Decode(out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestAuthzPasswordReset(t *testing.T) {
	s := testserver.New(t, func(c *config.Config) { c.BaseURL = "https://laatu.example.test" })
	const reset = `mutation($e: String!) { requestPasswordReset(email: $e) }`
	unknown := aPostWithHost(t, s, "evil.example", reset, map[string]any{"e": "nobody@acme.test"})
	known := aPostWithHost(t, s, "evil.example", reset, map[string]any{"e": "member@acme.test"})
	if aShape(unknown) != aShape(known) || string(known.Data) != `{"requestPasswordReset":true}` {
		t.Errorf("reset for an unknown and a known address differ:\n%s\n%s", aShape(unknown), aShape(known))
	}
	if n := aMailCount(t, s, "nobody@acme.test"); n != 0 {
		t.Errorf("%d mails to an address without an account", n)
	}
	body := aMailBody(t, s, "member@acme.test")
	if !strings.Contains(body, "https://laatu.example.test/reset-password#token=") || strings.Contains(body, "evil") {
		t.Errorf("reset mail does not link to the configured base URL: %q", body)
	}
	session := aLogin(t, s, "member@acme.test", aDemoPassword)
	tok := aMailToken(t, s, "member@acme.test")
	resetWith := func(tok, pw string) *testserver.Response {
		return s.Do(t, testserver.Request{Query: `mutation($t: String!, $p: String!) { resetPassword(token: $t, password: $p) }`,
			Variables: map[string]any{"t": tok, "p": pw}}, nil)
	}
	if res := resetWith(tok, "short"); aOutcome(res, "resetPassword") != aBad {
		t.Errorf("a too short password: %s", aShape(res))
	}
	testserver.MustOK(t, resetWith(tok, aPassword))
	aRevoked(t, s, session, "a session after a password reset")
	if res := resetWith(tok, "yet another passphrase"); aOutcome(res, "resetPassword") != aBad {
		t.Errorf("the token used again: %s", aShape(res))
	}
	aLogin(t, s, "member@acme.test", aPassword)

	// An expired token is refused.
	testserver.MustOK(t, s.Do(t, testserver.Request{Query: reset, Variables: map[string]any{"e": "member@acme.test"}}, nil))
	expired := aMailToken(t, s, "member@acme.test")
	aExec(t, s, "UPDATE user_tokens SET expires_at = ? WHERE token_hash = ?", time.Now().Add(-time.Second).UTC(), token.Hash(expired))
	if res := resetWith(expired, "yet another passphrase"); aOutcome(res, "resetPassword") != aBad {
		t.Errorf("an expired token: %s", aShape(res))
	}
	aLogin(t, s, "member@acme.test", aPassword)
}
