package e2e

import (
	"testing"
	"time"

	"github.com/laatu/laatu/internal/testserver"
)

type rGrant struct {
	ID            string
	Level         string
	ExpiresAt     *time.Time
	SourceGrantID *string
}

// rShare shares as token and returns the answer and the grant.
func rShare(t *testing.T, w *aWorld, token, object, email, level string, expiresAt any) (*testserver.Response, rGrant) {
	t.Helper()
	in := map[string]any{"objectId": object, "email": email, "level": level}
	if expiresAt != nil {
		in["expiresAt"] = expiresAt
	}
	var data struct{ Share rGrant }
	res := w.s.Do(t, testserver.Request{Query: `mutation($in: ShareInput!) { share(input: $in) { id level expiresAt sourceGrantId } }`,
		Token: token, Variables: map[string]any{"in": in}}, &data)
	return res, data.Share
}

// rMine is the holder of token's one grant.
func rMine(t *testing.T, w *aWorld, token string) []rGrant {
	t.Helper()
	var data struct{ SharedWithMe []rGrant }
	testserver.MustOK(t, w.s.Do(t, testserver.Request{Query: `{ sharedWithMe { id level expiresAt sourceGrantId } }`, Token: token}, &data))
	return data.SharedWithMe
}

// rAccept accepts the invitation mailed to email and returns the session token.
func rAccept(t *testing.T, w *aWorld, email string) string {
	t.Helper()
	var data struct{ AcceptInvitation struct{ Token string } }
	testserver.MustOK(t, w.s.Do(t, testserver.Request{Query: `mutation($t: String!, $p: String!) { acceptInvitation(token: $t, password: $p) { token } }`,
		Variables: map[string]any{"t": aMailToken(t, w.s, email), "p": aPassword}}, &data))
	return data.AcceptInvitation.Token
}

func TestReshareBoundedBySource(t *testing.T) {
	w := aNewWorld(t)
	ht := w.folders["Acme Construction/Harbour Tower"]
	soon := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	guest := w.guest(t, aManager, ht, "bounded@partner.test", "MANAGE", soon.Format(time.RFC3339))
	src := rMine(t, w, guest)
	if len(src) != 1 {
		t.Fatalf("the guest's grants: %+v", src)
	}

	// Without an expiry, a re-share ends with its source; with a later one it is refused.
	res, g := rShare(t, w, guest, ht, "second@partner.test", "MANAGE", nil)
	testserver.MustOK(t, res)
	if g.ExpiresAt == nil || !g.ExpiresAt.Equal(soon) || g.SourceGrantID == nil || *g.SourceGrantID != src[0].ID {
		t.Errorf("a re-share without an expiry: %+v, want it to end at %v with source %s", g, soon, src[0].ID)
	}
	res, _ = rShare(t, w, guest, ht, "third@partner.test", "VIEW", "2030-01-01T00:00:00Z")
	if aOutcome(res, "share") != aBad || res.Errors[0].Extensions["field"] != "expiresAt" {
		t.Errorf("a re-share outlasting its source: %s, want BAD_USER_INPUT on expiresAt", aShape(res))
	}
	res, _ = rShare(t, w, guest, ht, "third@partner.test", "VIEW", soon.Add(-time.Minute).Format(time.RFC3339))
	testserver.MustOK(t, res)

	// A re-share of a re-share chains on; revoking the first grant ends the whole chain.
	second := rAccept(t, w, "second@partner.test")
	third := rAccept(t, w, "third@partner.test")
	res, g2 := rShare(t, w, second, ht, "fourth@partner.test", "EDIT", nil)
	testserver.MustOK(t, res)
	if g2.SourceGrantID == nil || *g2.SourceGrantID != g.ID || g2.ExpiresAt == nil || !g2.ExpiresAt.Equal(soon) {
		t.Errorf("a re-share of a re-share: %+v", g2)
	}
	fourth := rAccept(t, w, "fourth@partner.test")
	read := func(token string) string {
		return aOutcome(w.s.Do(t, testserver.Request{Query: `query($id: ID!) { folder(id: $id) { id } }`, Token: token,
			Variables: map[string]any{"id": ht}}, nil), "folder")
	}
	for _, tok := range []string{guest, second, third, fourth} {
		if got := read(tok); got != aData {
			t.Fatalf("before the revocation a grantee reads %s", got)
		}
	}
	w.mustOK(t, aManager, `mutation($id: ID!) { unshare(grantId: $id) }`, map[string]any{"id": src[0].ID}, nil)
	for name, tok := range map[string]string{"the guest": guest, "its grantee": second, "another grantee": third, "a grantee of a grantee": fourth} {
		if got := read(tok); got != aNF {
			t.Errorf("after the source was revoked %s reads the folder: %s", name, got)
		}
		if mine := rMine(t, w, tok); len(mine) != 0 {
			t.Errorf("after the source was revoked %s holds %+v", name, mine)
		}
	}
	var ended []int
	aSQL(t, w.s, &ended, "SELECT count(*) FROM audit_events WHERE action = 'UNSHARE' AND object_id = ?", ht)
	if ended[0] != 4 {
		t.Errorf("%d UNSHARE events, want 4 (the revoked grant and the three re-shares it ended)", ended[0])
	}
}

func TestReshareEndsWhenSourceReplaced(t *testing.T) {
	w := aNewWorld(t)
	ht := w.folders["Acme Construction/Harbour Tower"]
	guest := w.guest(t, aManager, ht, "replaced@partner.test", "MANAGE", nil)
	res, _ := rShare(t, w, guest, ht, "downstream@partner.test", "MANAGE", nil)
	testserver.MustOK(t, res)
	downstream := rAccept(t, w, "downstream@partner.test")
	// The downstream guest may not take over the grant its own comes from.
	if res, _ := rShare(t, w, downstream, ht, "replaced@partner.test", "VIEW", nil); aOutcome(res, "share") != aBad {
		t.Errorf("re-sharing onto the source's grantee: %s", aShape(res))
	}
	// The manager lowers the guest to VIEW: what the guest handed on ends.
	res, _ = rShare(t, w, w.tokens[aManager], ht, "replaced@partner.test", "VIEW", nil)
	testserver.MustOK(t, res)
	if mine := rMine(t, w, downstream); len(mine) != 0 {
		t.Errorf("after its source was replaced the downstream guest holds %+v", mine)
	}
}

func TestRemovedMembersSharesEnd(t *testing.T) {
	for _, keep := range []bool{false, true} {
		t.Run(map[bool]string{false: "by default", true: "unless kept"}[keep], func(t *testing.T) {
			w := aNewWorld(t)
			ht := w.folders["Acme Construction/Harbour Tower"]
			res, _ := rShare(t, w, w.tokens[aManager], ht, "frommanager@partner.test", "MANAGE", nil)
			testserver.MustOK(t, res)
			guest := rAccept(t, w, "frommanager@partner.test")
			res, _ = rShare(t, w, guest, ht, "onward@partner.test", "VIEW", nil)
			testserver.MustOK(t, res)
			onward := rAccept(t, w, "onward@partner.test")
			w.mustOK(t, aAdmin, `mutation($u: ID!, $k: Boolean) { removeMember(userId: $u, keepShares: $k) }`,
				map[string]any{"u": w.users["manager@acme.test"], "k": keep}, nil)
			for name, tok := range map[string]string{"the manager's grantee": guest, "a re-share of it": onward} {
				if n := len(rMine(t, w, tok)); (n == 1) != keep {
					t.Errorf("after the manager was removed (keepShares %v) %s holds %d grants", keep, name, n)
				}
			}
		})
	}
}
