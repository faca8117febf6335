package audit

import (
	"context"
	"fmt"
	"strings"

	"github.com/laatu/laatu/internal/access"
	"github.com/laatu/laatu/internal/storage"
)

// GrantsFunc tells which grant admitted the principal in ctx, a guest of companyID, to each of
// refs: storage.Store.AdmittingGrants, which documents the rule. Objects admitted by no grant
// have no entry.
type GrantsFunc func(ctx context.Context, companyID string, refs []storage.ObjectRef) (map[storage.ObjectRef]string, error)

// viewGrants returns the grant that admitted the principal in ctx to each viewed object of a
// company where it is a guest, for the GrantID of its VIEW event. Changes name theirs in
// storage, inside their transaction; views are folded after the operation's transaction has
// ended, so this asks once per company, whatever the number of objects, and only for
// companies where the principal is a guest: members, the system and anonymous callers cost
// nothing. Without Options.Grants it returns nothing, and the events name no grant.
//
// An error fails the flush, and with it the response: a guest's view recorded without the
// grant that admitted it would be a wrong trace.
func (a *Auditor) viewGrants(ctx context.Context, views []view) (map[viewKey]string, error) {
	if a.opts.Grants == nil {
		return nil, nil
	}
	p := access.FromContext(ctx)
	var companies []string
	refs := map[string][]storage.ObjectRef{}
	for _, v := range views {
		if p.KindIn(strings.ToLower(v.company)) != access.KindGuest {
			continue
		}
		if _, ok := refs[v.company]; !ok {
			companies = append(companies, v.company)
		}
		refs[v.company] = append(refs[v.company], storage.ObjectRef{Type: v.typ, ID: v.id})
	}
	out := map[viewKey]string{}
	for _, company := range companies {
		by, err := a.opts.Grants(ctx, company, refs[company])
		if err != nil {
			return nil, fmt.Errorf("audit: the grants that admitted a guest: %w", err)
		}
		for ref, id := range by {
			out[viewKey{company: company, typ: ref.Type, id: ref.ID}] = id
		}
	}
	return out, nil
}
