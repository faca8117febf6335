package storage

import (
	"context"
	"fmt"
	"strings"

	"github.com/uptrace/bun"

	"github.com/laatu/laatu/internal/access"
	"github.com/laatu/laatu/internal/errs"
)

// UsersByID returns users by id. Users are global: what of a user a caller may see (the email
// address, say) is decided where the user is shown.
func (s *Store) UsersByID(ctx context.Context, ids []string) (map[string]*User, error) {
	ids = validIDs(ids)
	out := make(map[string]*User, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	var rows []*User
	err := s.read(ctx, func(c *conn) error {
		if !c.p.Authenticated() && !c.p.System() {
			return nil
		}
		return c.db.NewSelect().Model(&rows).Where("usr.id IN (?)", bun.List(ids)).Scan(ctx)
	})
	if err != nil {
		return nil, fmt.Errorf("users by id: %w", err)
	}
	for _, u := range rows {
		out[u.ID] = u
	}
	return out, nil
}

// UserByEmail finds a user by email address, case-insensitively. Login uses it as the system.
func (s *Store) UserByEmail(ctx context.Context, email string) (*User, error) {
	u := new(User)
	err := s.read(ctx, func(c *conn) error {
		return c.db.NewSelect().Model(u).Where("usr.email = ?", NormalizeEmail(email)).Scan(ctx)
	})
	if err != nil {
		return nil, notFound(err, "user")
	}
	return u, nil
}

// NormalizeEmail is the form in which addresses are stored and compared.
func NormalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// CompaniesByID returns the companies among ids that the caller may know of: its own, and
// those that shared something with it.
func (s *Store) CompaniesByID(ctx context.Context, ids []string) (map[string]*Company, error) {
	return visibleByID(ctx, s, companiesTable, ids, func(co *Company) string { return co.ID })
}

// MembershipsOf returns a user's memberships in every company. Authentication uses it, as the
// system, to build the principal.
func (s *Store) MembershipsOf(ctx context.Context, userID string) ([]*Membership, error) {
	var rows []*Membership
	err := s.read(ctx, func(c *conn) error {
		return c.from(membershipsTable, &rows).Where("membership.user_id = ?", userID).
			OrderExpr("membership.created_at, membership.company_id").Scan(ctx)
	})
	if err != nil {
		return nil, fmt.Errorf("memberships of user: %w", err)
	}
	return rows, nil
}

var memberSort = sortSpec[*Membership]{"membership.created_at", false, func(m *Membership) any { return m.CreatedAt }, cursor.timeAny}

// Members lists the members of the active company. LIMITED seats and guests see only themselves.
func (s *Store) Members(ctx context.Context, page PageArgs) (*Page[*Membership], error) {
	return paginate(ctx, s, membershipsTable, memberSort, page, func(c *conn, q scoped) scoped {
		return q.Where("membership.company_id = ?", c.p.CompanyID)
	})
}

// SetLevel changes a member's level; ADMIN only, and never removing the last ADMIN.
func (s *Store) SetLevel(ctx context.Context, userID string, level access.Level) (*Membership, error) {
	var out *Membership
	err := s.write(ctx, func(c *conn) error {
		if !c.p.Level.AtLeast(access.Admin) && !c.p.System() {
			return errs.New(errs.Forbidden, "only admins change levels")
		}
		if !validID(userID) {
			return errs.NotFoundf("member")
		}
		m := new(Membership)
		if err := c.from(membershipsTable, m).Where("membership.company_id = ? AND membership.user_id = ?", c.p.CompanyID, userID).Scan(ctx); err != nil {
			return notFound(err, "member")
		}
		if m.Level == level {
			out = m
			return nil
		}
		if m.Level == access.Admin {
			if err := c.requireAnotherAdmin(ctx, userID); err != nil {
				return err
			}
		}
		before := m.Level
		m.Level = level
		if _, err := c.db.NewUpdate().Model(m).Column("level").Where("company_id = ? AND user_id = ?", m.CompanyID, m.UserID).Exec(ctx); err != nil {
			return fmt.Errorf("set level: %w", err)
		}
		out = m
		return c.emit(ctx, Change{Kind: "LEVEL_CHANGED", CompanyID: m.CompanyID, ObjectType: "USER", ObjectID: m.UserID,
			Fields: []FieldChange{{Field: "level", Before: before, After: level}}, UserIDs: []string{m.UserID}})
	})
	return out, err
}

// RemoveMember ends a membership; ADMIN only, and never the last ADMIN. The grants the member
// gave in the company end with it (and what was re-shared from them), unless keepShares.
func (s *Store) RemoveMember(ctx context.Context, userID string, keepShares bool) error {
	return s.write(ctx, func(c *conn) error {
		if !c.p.Level.AtLeast(access.Admin) && !c.p.System() {
			return errs.New(errs.Forbidden, "only admins remove members")
		}
		if !validID(userID) {
			return errs.NotFoundf("member")
		}
		m := new(Membership)
		if err := c.from(membershipsTable, m).Where("membership.company_id = ? AND membership.user_id = ?", c.p.CompanyID, userID).Scan(ctx); err != nil {
			return notFound(err, "member")
		}
		if m.Level == access.Admin {
			if err := c.requireAnotherAdmin(ctx, userID); err != nil {
				return err
			}
		}
		if _, err := c.db.NewDelete().Model(m).Where("company_id = ? AND user_id = ?", m.CompanyID, m.UserID).Exec(ctx); err != nil {
			return fmt.Errorf("remove member: %w", err)
		}
		if !keepShares {
			if err := c.endSharesOf(ctx, m.CompanyID, m.UserID); err != nil {
				return err
			}
		}
		return c.emit(ctx, Change{Kind: "MEMBER_REMOVED", CompanyID: m.CompanyID, ObjectType: "USER", ObjectID: m.UserID, UserIDs: []string{m.UserID}})
	})
}

func (c *conn) requireAnotherAdmin(ctx context.Context, userID string) error {
	n, err := c.from(membershipsTable, (*Membership)(nil)).
		Where("membership.company_id = ? AND membership.level = ? AND membership.user_id <> ?", c.p.CompanyID, access.Admin, userID).Count(ctx)
	if err != nil {
		return fmt.Errorf("count admins: %w", err)
	}
	if n == 0 {
		return errs.New(errs.Conflict, "a company keeps at least one admin")
	}
	return nil
}

// MembersAmong tells which of userIDs are members of the caller's active company. Only members
// (MEMBER and above) learn it; for anyone else the answer is empty.
func (s *Store) MembersAmong(ctx context.Context, userIDs []string) (map[string]bool, error) {
	userIDs = validIDs(userIDs)
	out := make(map[string]bool, len(userIDs))
	var rows []*Membership
	err := s.read(ctx, func(c *conn) error {
		if len(userIDs) == 0 || c.p.CompanyID == "" || !c.p.Level.AtLeast(access.Member) {
			return nil
		}
		return c.from(membershipsTable, &rows).
			Where("membership.company_id = ? AND membership.user_id IN (?)", c.p.CompanyID, bun.List(userIDs)).Scan(ctx)
	})
	if err != nil {
		return nil, fmt.Errorf("members among: %w", err)
	}
	for _, m := range rows {
		out[m.UserID] = true
	}
	for _, id := range userIDs {
		if !out[id] {
			out[id] = false
		}
	}
	return out, nil
}
