package storage

import (
	"context"
	"fmt"
	"slices"

	"github.com/laatu/laatu/internal/access"
	"github.com/laatu/laatu/internal/errs"
)

// ProbedCompany returns the company that holds the folder or document id (deleted ones
// included), looked for among the companies the caller belongs to or holds grants in, or ""
// when none does. A denied write on an object the caller may not see is recorded there, so
// that the company's ADMINs see the probing even when it came from a guest, who has no active
// company. The answer never reaches the caller: it only says where the denial is recorded.
func (s *Store) ProbedCompany(ctx context.Context, id string) (string, error) {
	p := access.FromContext(ctx)
	if !validID(id) || !p.Authenticated() {
		return "", nil
	}
	var candidates []string
	if p.CompanyID != "" {
		candidates = append(candidates, p.CompanyID)
	}
	for co := range p.Memberships {
		if !slices.Contains(candidates, co) {
			candidates = append(candidates, co)
		}
	}
	var granted []Grant
	err := s.read(ctx, func(c *conn) error {
		return c.from(grantsTable, &granted).Where("grnt.grantee_id = ?", p.UserID).Scan(ctx)
	})
	if err != nil {
		return "", fmt.Errorf("probed company: %w", err)
	}
	for _, g := range granted {
		if !slices.Contains(candidates, g.CompanyID) {
			candidates = append(candidates, g.CompanyID)
		}
	}
	for _, co := range candidates {
		var found bool
		err := s.read(access.AsSystem(ctx, co), func(c *conn) error {
			o, err := c.objectWithDeleted(ctx, id)
			if errs.KindOf(err) == errs.NotFound {
				return nil
			}
			found = err == nil && o.ObjectCompanyID() == co
			return err
		})
		if err != nil {
			return "", fmt.Errorf("probed company: %w", err)
		}
		if found {
			return co, nil
		}
	}
	return "", nil
}
