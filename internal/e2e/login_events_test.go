package e2e

import (
	"testing"

	"github.com/laatu/laatu/internal/audit"
	"github.com/laatu/laatu/internal/config"
	"github.com/laatu/laatu/internal/testserver"
)

// TestLoginEventsReadableByTheCompanysAdmins: the security events of a company's members
// (LOGIN, LOGIN_FAILED, LOGIN_THROTTLED, LOGOUT, PASSWORD_CHANGED) are in its audit log, and
// in no other company's; a failed login of an address without an account is in none; every
// chain still verifies.
func TestLoginEventsReadableByTheCompanysAdmins(t *testing.T) {
	s := testserver.New(t, func(c *config.Config) { c.TrustedProxies = []string{"127.0.0.1", "::1"} })
	acmeAdmin, betaAdmin := s.Login(t, "admin@acme.test"), s.Login(t, "admin@beta.test")
	var ids []string
	aSQL(t, s, &ids, "SELECT id FROM users WHERE email = 'member@acme.test'")
	member := ids[0]

	for range 6 { // five checked failures, one refused
		aTryLogin(t, s, "member@acme.test", "a wrong guess", "10.5.0.1")
	}
	aTryLogin(t, s, "nobody@acme.test", "a wrong guess", "10.5.0.2")
	tok := aLogin(t, s, "member@acme.test", aDemoPassword)
	testserver.MustOK(t, s.Do(t, testserver.Request{Query: `mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) }`,
		Variables: map[string]any{"c": aDemoPassword, "n": aPassword}, Token: tok}, nil))
	testserver.MustOK(t, s.Do(t, testserver.Request{Query: `mutation { logout }`, Token: tok}, nil))

	count := func(token string, action string) (mine, unknown int) {
		for _, e := range aeEvents(t, s, token, map[string]any{"action": action}) {
			switch {
			case e.ObjectID == member && e.ActorID != nil && *e.ActorID == member:
				mine++
			case e.ObjectID == "":
				unknown++
			}
		}
		return mine, unknown
	}
	for action, want := range map[string]int{"LOGIN": 1, "LOGIN_FAILED": 5, "LOGIN_THROTTLED": 1, "LOGOUT": 1, "PASSWORD_CHANGED": 1} {
		mine, unknown := count(acmeAdmin, action)
		if mine != want || unknown != 0 {
			t.Errorf("Acme's ADMIN reads %d %s events of its member (want %d) and %d of unknown addresses (want 0)", mine, action, want, unknown)
		}
		if mine, unknown := count(betaAdmin, action); mine != 0 || unknown != 0 {
			t.Errorf("Beta's ADMIN reads %d %s events of Acme's member and %d of unknown addresses", mine, action, unknown)
		}
	}
	for _, e := range aeEvents(t, s, acmeAdmin, map[string]any{"action": "LOGIN_FAILED"}) {
		if e.PrincipalKind != "MEMBER" || e.PrincipalLevel != "MEMBER" || e.ClientIP != "10.5.0.1" {
			t.Errorf("a failed login in Acme's log: kind %q level %q ip %q", e.PrincipalKind, e.PrincipalLevel, e.ClientIP)
		}
	}
	reports, err := audit.VerifyAll(t.Context(), s.DB.Owner)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range reports {
		if !r.OK() {
			t.Errorf("chain: %s", r)
		}
	}
}
