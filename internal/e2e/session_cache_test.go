package e2e

// Sessions are cached in memory: an authenticated request that reads nothing costs no
// statement, and every change that ends a session or alters a membership reaches every
// instance's cache at once — on this instance when it commits, on others by notification.

import (
	"testing"
	"time"

	"github.com/laatu/laatu/internal/testdb"
	"github.com/laatu/laatu/internal/testserver"
)

func TestAuthenticatedTypenameRunsNoStatement(t *testing.T) {
	t.Parallel()
	s := testserver.New(t)
	tok := s.Login(t, "member@acme.test")
	counter := fCountQueries(s)
	fOK(t, s, tok, `{ viewer { level } }`, nil, nil) // the session is read once, then cached
	queries := counter.during(func() { fOK(t, s, tok, `{ __typename }`, nil, nil) })
	if len(queries) != 0 {
		t.Errorf("{ __typename } with a bearer token ran %d statements, want none: %q", len(queries), queries)
	}
	queries = counter.during(func() { fOK(t, s, "", `{ __typename }`, nil, nil) })
	if len(queries) != 0 {
		t.Errorf("anonymous { __typename } ran %d statements, want none: %q", len(queries), queries)
	}
}

func TestCachedSessionEndsAtOnce(t *testing.T) {
	t.Parallel()
	s := testserver.New(t)
	for _, c := range []struct{ name, mutation string }{
		{"logout", `mutation { logout }`},
		{"password change", `mutation { changePassword(currentPassword: "laatu-demo-password", newPassword: "another-long-password-1") }`},
	} {
		t.Run(c.name, func(t *testing.T) {
			victim := aLogin(t, s, "member@acme.test", aDemoPassword)
			actor := victim
			if c.name == "password change" {
				actor = aLogin(t, s, "member@acme.test", aDemoPassword)
			}
			aAlive(t, s, victim, "before: "+c.name) // now cached
			testserver.MustOK(t, s.Do(t, testserver.Request{Query: c.mutation, Token: actor}, nil))
			aRevoked(t, s, victim, "right after "+c.name)
		})
	}
}

func TestCachedMembershipChangesAtOnce(t *testing.T) {
	t.Parallel()
	s := testserver.New(t)
	admin, member := s.Login(t, "admin@acme.test"), s.Login(t, "member@acme.test")
	var v struct {
		Viewer struct {
			Level string
			User  struct{ ID string }
		}
	}
	fOK(t, s, member, `{ viewer { level user { id } } }`, nil, &v)
	if v.Viewer.Level != "MEMBER" {
		t.Fatalf("level %q, want MEMBER", v.Viewer.Level)
	}
	fOK(t, s, admin, `mutation($u: ID!) { setMemberLevel(userId: $u, level: MANAGER) { level } }`, map[string]any{"u": v.Viewer.User.ID}, nil)
	fOK(t, s, member, `{ viewer { level } }`, nil, &v)
	if v.Viewer.Level != "MANAGER" {
		t.Errorf("right after the level changed the member acts as %q, want MANAGER", v.Viewer.Level)
	}
}

// TestRevocationReachesEveryInstance runs two servers on one PostgreSQL database: a logout
// through one ends the session, cached by both, on the other too.
func TestRevocationReachesEveryInstance(t *testing.T) {
	t.Parallel()
	db := testdb.RequirePostgres(t)
	one, two := testserver.NewOn(t, db), testserver.NewOn(t, db)
	tok := aLogin(t, one, "member@acme.test", aDemoPassword)
	aAlive(t, one, tok, "on the first instance")
	aAlive(t, two, tok, "on the second instance") // cached by both
	testserver.MustOK(t, one.Do(t, testserver.Request{Query: `mutation { logout }`, Token: tok}, nil))
	aRevoked(t, one, tok, "on the instance that logged out")
	deadline := time.Now().Add(30 * time.Second)
	for {
		status, _ := aStatus(t, two, tok)
		if status == 401 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the other instance still accepts the session 30 s after logout (status %d)", status)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
