package e2e

// No account-existence oracle: the answers to sharing, signing up, resetting a password and
// listing grants are the same for an address with an account and one without.

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/laatu/laatu/internal/auth"
	"github.com/laatu/laatu/internal/testserver"
)

const oShareQuery = `mutation($in: ShareInput!) { share(input: $in) { level expiresAt granteeEmail grantee { id name email } } }`

// oShare shares object with email as the holder of token.
func oShare(t *testing.T, s *testserver.Server, token, object, email string) *testserver.Response {
	t.Helper()
	return s.Do(t, testserver.Request{Query: oShareQuery, Token: token,
		Variables: map[string]any{"in": map[string]any{"objectId": object, "email": email, "level": "VIEW"}}}, nil)
}

// oMasked is a response's shape with the address the caller typed replaced by a placeholder.
func oMasked(res *testserver.Response, typed string) string {
	return strings.ReplaceAll(aShape(res), strings.ToLower(typed), "<typed>")
}

func TestShareAnswersAlikeForKnownAndUnknownAddresses(t *testing.T) {
	w := aNewWorld(t)
	ht := w.folders["Acme Construction/Harbour Tower"]
	manager := w.guest(t, aManager, ht, "reshare@partner.test", "MANAGE", nil)

	for _, c := range []struct {
		who, token     string
		known, unknown string
	}{
		// member@beta.test has an account and a name; the sharers are not its colleagues.
		{"an Acme MANAGER", w.tokens[aManager], "Member@Beta.test", "Nobody.Here@Beta.test"},
		{"a guest with MANAGE", manager, "admin@beta.test", "nobody.else@beta.test"},
	} {
		known, unknown := oShare(t, w.s, c.token, ht, c.known), oShare(t, w.s, c.token, ht, c.unknown)
		if aOutcome(known, "share") != aData || oMasked(known, c.known) != oMasked(unknown, c.unknown) {
			t.Errorf("%s sharing with a known and an unknown address:\n%s\n%s", c.who, aShape(known), aShape(unknown))
		}
		var data struct {
			Share struct {
				GranteeEmail *string
				Grantee      *struct{ Name string }
			}
		}
		_ = json.Unmarshal(known.Data, &data)
		if data.Share.Grantee != nil || data.Share.GranteeEmail == nil || *data.Share.GranteeEmail != strings.ToLower(c.known) {
			t.Errorf("%s: the grant shows %s, want the typed address and no user", c.who, known.Data)
		}
		for _, email := range []string{c.known, c.unknown} {
			if n := aMailCount(t, w.s, strings.ToLower(email)); n != 1 {
				t.Errorf("%s: %d mails to %s, want 1 (an invitation or a notice alike)", c.who, n, email)
			}
		}
	}

	// The list of grants names no outsider either; a colleague is shown to members.
	testserver.MustOK(t, oShare(t, w.s, w.tokens[aManager], ht, "member@acme.test"))
	var list struct {
		Grants []struct {
			GranteeEmail *string
			Grantee      *struct{ Name string }
		}
	}
	w.mustOK(t, aManager, `query($o: ID!) { grants(objectId: $o) { granteeEmail grantee { name } } }`, map[string]any{"o": ht}, &list)
	colleagues := 0
	for _, g := range list.Grants {
		if g.Grantee != nil {
			colleagues++
			if g.GranteeEmail == nil || *g.GranteeEmail != "member@acme.test" {
				t.Errorf("a user shown who is not the colleague: %+v %v", g.Grantee, g.GranteeEmail)
			}
		}
	}
	if colleagues != 1 {
		t.Errorf("%d grantees shown by name to a MANAGER, want only the colleague", colleagues)
	}
	// A guest with MANAGE sees no address but those it typed and its own.
	var theirs struct {
		Grants []struct{ GranteeEmail *string }
	}
	testserver.MustOK(t, w.s.Do(t, testserver.Request{Query: `query($o: ID!) { grants(objectId: $o) { granteeEmail } }`,
		Token: manager, Variables: map[string]any{"o": ht}}, &theirs))
	for _, g := range theirs.Grants {
		if g.GranteeEmail != nil && !strings.Contains("reshare@partner.test admin@beta.test nobody.else@beta.test", *g.GranteeEmail) {
			t.Errorf("the guest is shown %s", *g.GranteeEmail)
		}
	}
}

func TestShareIsRateLimitedPerSharer(t *testing.T) {
	w := aNewWorld(t)
	ht := w.folders["Acme Construction/Harbour Tower"]
	var folders []string // Beta's ADMIN has shared nothing yet
	aSQL(t, w.s, &folders, "SELECT id FROM folders WHERE company_id = ? ORDER BY path LIMIT 1", w.beta)
	for i := range auth.SharesPerSharer {
		if res := oShare(t, w.s, w.tokens[aBAdmin], folders[0], fmt.Sprintf("flood%d@flood.test", i)); aOutcome(res, "share") != aData {
			t.Fatalf("share %d: %s", i+1, aShape(res))
		}
	}
	res := oShare(t, w.s, w.tokens[aBAdmin], folders[0], "member@acme.test")
	if aOutcome(res, "share") != "RATE_LIMITED" {
		t.Fatalf("share past the limit: %s", aShape(res))
	}
	if n, ok := res.Errors[0].Extensions["retryAfterSeconds"].(float64); !ok || n < 1 {
		t.Errorf("retryAfterSeconds %v", res.Errors[0].Extensions["retryAfterSeconds"])
	}
	if n := aMailCount(t, w.s, "member@acme.test"); n != 0 {
		t.Errorf("a refused share mailed its address %d times", n)
	}
	// Another sharer (of another company) still shares.
	if res := oShare(t, w.s, w.tokens[aAdmin], ht, "member@beta.test"); aOutcome(res, "share") != aData {
		t.Errorf("another sharer: %s", aShape(res))
	}
}

// TestShareTimingAlike compares the time share takes for addresses with and without an account,
// interleaved so that a slow moment of the machine weighs on both: the medians must be within a
// factor of three of each other (a generous bound; the work is the same kind either way: a
// grant, and a mail queued).
func TestShareTimingAlike(t *testing.T) {
	if testing.Short() {
		t.Skip("timing")
	}
	s := testserver.New(t)
	admin := s.Login(t, "admin@acme.test")
	var folders []string
	aSQL(t, s, &folders, "SELECT id FROM folders WHERE company_id = ? AND parent_id IS NULL ORDER BY name LIMIT 1", s.Demo.Companies["Acme Construction"])
	known := []string{"member@beta.test", "admin@beta.test", "guest@partner.test"}
	timed := func(email string) time.Duration {
		start := time.Now()
		if res := oShare(t, s, admin, folders[0], email); aOutcome(res, "share") != aData {
			t.Fatalf("share with %s: %s", email, aShape(res))
		}
		return time.Since(start)
	}
	timed(known[0]) // warm up
	timed("warmup@nowhere.test")
	const n = 11
	var k, u []time.Duration
	for i := range n {
		k = append(k, timed(known[i%len(known)]))
		u = append(u, timed(fmt.Sprintf("fresh%d@nowhere.test", i)))
	}
	median := func(ds []time.Duration) time.Duration {
		s := slices.Clone(ds)
		slices.Sort(s)
		return s[len(s)/2]
	}
	mk, mu := median(k), median(u)
	ratio := float64(mu) / float64(mk)
	t.Logf("median share time: known address %v, unknown %v (ratio %.2f)", mk, mu, ratio)
	if ratio < 1.0/3 || ratio > 3 {
		t.Errorf("share with an unknown address %v vs a known one %v: ratio %.2f, want 1/3..3", mu, mk, ratio)
	}
}
