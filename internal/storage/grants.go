package storage

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/laatu/laatu/internal/access"
	"github.com/laatu/laatu/internal/errs"
)

// NewGrant is the input of Share.
type NewGrant struct {
	// ObjectID names a folder or a document.
	ObjectID  string
	GranteeID string
	Level     access.Right
	ExpiresAt *time.Time
}

// Share grants a user a right on a folder or document. Owners, ADMINs and MANAGERs of the
// company may share; a holder of MANAGE may re-share up to its own right. Sharing again
// replaces the earlier grant of the same user on the same object.
func (s *Store) Share(ctx context.Context, in NewGrant) (*Grant, error) {
	if !in.Level.Valid() {
		return nil, errs.Invalid("level", "level must be VIEW, EDIT or MANAGE")
	}
	var out *Grant
	err := s.write(ctx, func(c *conn) error {
		obj, err := c.object(ctx, in.ObjectID)
		if err != nil {
			return err
		}
		if in.ExpiresAt != nil && !in.ExpiresAt.After(c.now) {
			return errs.Invalid("expiresAt", "expiresAt must be in the future")
		}
		right, err := c.right(ctx, obj)
		if err != nil {
			return err
		}
		if err := mayShare(c.p, obj, right, in.Level); err != nil {
			return err
		}
		if in.GranteeID == c.p.UserID {
			return errs.Invalid("granteeId", "you cannot share with yourself")
		}
		// A guest shares through the grant that admits it: the re-share is bounded by it.
		source, err := c.reshareSource(ctx, obj)
		if err != nil {
			return err
		}
		expiresAt := in.ExpiresAt
		if source != nil && source.ExpiresAt != nil {
			if expiresAt == nil {
				expiresAt = source.ExpiresAt
			} else if expiresAt.After(*source.ExpiresAt) {
				return errs.Invalid("expiresAt", "a re-share cannot outlast the grant it comes from")
			}
		}
		if source != nil && !source.Level.AtLeast(in.Level) {
			return errs.New(errs.Forbidden, "you may not share this object at that level")
		}
		g := &Grant{CompanyID: obj.ObjectCompanyID(), ID: NewID(), GranteeID: in.GranteeID, Level: in.Level,
			ExpiresAt: expiresAt, CreatedAt: c.now}
		if source != nil {
			g.SourceGrantID = &source.ID
		}
		if c.p.UserID != "" {
			g.GrantedBy = &c.p.UserID
		}
		switch o := obj.(type) {
		case *Folder:
			g.FolderID, g.Path = &o.ID, o.Path
		case *Document:
			g.DocumentID, g.Path = &o.ID, o.FolderPath+o.ID+"/"
		}
		return c.actingIn(ctx, g.CompanyID, func(c *conn) error {
			// The grant replaced is revoked: what was re-shared from it ends with it, and a
			// re-share cannot replace the grant it comes from, however far up.
			var old []*Grant
			sel := c.db.NewSelect().Model(&old).Where("grnt.company_id = ? AND grnt.grantee_id = ?", g.CompanyID, g.GranteeID)
			if g.FolderID != nil {
				sel = sel.Where("grnt.folder_id = ?", *g.FolderID)
			} else {
				sel = sel.Where("grnt.document_id = ?", *g.DocumentID)
			}
			if err := sel.Scan(ctx); err != nil {
				return fmt.Errorf("replace grant: %w", err)
			}
			for _, o := range old {
				ended, err := c.reshares(ctx, g.CompanyID, o.ID)
				if err != nil {
					return err
				}
				if source != nil && (source.ID == o.ID || containsGrant(ended, source.ID)) {
					return errs.Invalid("email", "that person's right is the one yours comes from")
				}
				if err := c.endReshares(ctx, ended); err != nil {
					return err
				}
				if _, err := c.db.NewDelete().Table("grants").Where("company_id = ? AND id = ?", g.CompanyID, o.ID).Exec(ctx); err != nil {
					return fmt.Errorf("replace grant: %w", err)
				}
			}
			if _, err := c.db.NewInsert().Model(g).Exec(ctx); err != nil {
				return fmt.Errorf("insert grant: %w", err)
			}
			out = g
			return c.changedAccess(ctx, ChangeShared, obj, g, "")
		})
	})
	return out, err
}

// mayShare applies access.CanShare, the sharing rule, with the answers of the storage wall:
// NOT_FOUND for what the caller cannot view, FORBIDDEN for what it may view but not share.
func mayShare(p *access.Principal, obj Object, right access.Right, level access.Right) error {
	if !right.AtLeast(access.View) {
		return errs.NotFoundf("object")
	}
	if access.CanShare(p, obj.ObjectCompanyID(), right, level) {
		return nil
	}
	return errs.New(errs.Forbidden, "you may not share this object at that level")
}

// Unshare removes a grant. The same people who may share the object may unshare; a grantee
// may also drop its own grant.
func (s *Store) Unshare(ctx context.Context, grantID string) (*Grant, error) {
	var out *Grant
	err := s.write(ctx, func(c *conn) error {
		if !validID(grantID) {
			return errs.NotFoundf("grant")
		}
		g := new(Grant)
		if err := c.from(grantsTable, g).Where("grnt.id = ?", grantID).Scan(ctx); err != nil {
			return notFound(err, "grant")
		}
		objID := ""
		if g.FolderID != nil {
			objID = *g.FolderID
		} else {
			objID = *g.DocumentID
		}
		obj, err := c.objectWithDeleted(ctx, objID)
		if err != nil {
			return errs.NotFoundf("grant")
		}
		if g.GranteeID != c.p.UserID {
			right, err := c.right(ctx, obj)
			if err != nil {
				return err
			}
			if err := mayShare(c.p, obj, right, g.Level); err != nil {
				if errs.KindOf(err) == errs.NotFound {
					return errs.NotFoundf("grant")
				}
				return err
			}
		}
		return c.actingIn(ctx, g.CompanyID, func(c *conn) error {
			// A guest acts by the grants it holds before this one goes, and this one may be
			// the grant that admitted it (a grantee dropping its own): look it up first.
			ref := refOf(obj)
			by, err := c.admittingGrants(ctx, g.CompanyID, []ObjectRef{ref})
			if err != nil {
				return fmt.Errorf("admitting grant: %w", err)
			}
			// What was re-shared from the grant ends with it, each recorded as an UNSHARE.
			ended, err := c.reshares(ctx, g.CompanyID, g.ID)
			if err != nil {
				return err
			}
			if err := c.endReshares(ctx, ended); err != nil {
				return err
			}
			if _, err := c.db.NewDelete().Table("grants").Where("company_id = ? AND id = ?", g.CompanyID, g.ID).Exec(ctx); err != nil {
				return fmt.Errorf("delete grant: %w", err)
			}
			out = g
			return c.changedAccess(ctx, ChangeUnshared, obj, g, by[ref])
		})
	})
	return out, err
}

// changedAccess emits a SHARE or UNSHARE of obj. admittedBy, when not empty, is the grant
// that admitted the caller, a guest, to obj before the change; emit looks it up otherwise.
func (c *conn) changedAccess(ctx context.Context, kind ChangeKind, obj Object, g *Grant, admittedBy string) error {
	ch := Change{Kind: kind, CompanyID: g.CompanyID, UserIDs: []string{g.GranteeID}, GrantID: admittedBy,
		Fields: []FieldChange{{Field: "grantee", After: g.GranteeID}, {Field: "level", After: g.Level}}}
	ch.ObjectType, ch.ObjectID, ch.Path = obj.ObjectType(), obj.ObjectID(), obj.ObjectPath()
	return c.emit(ctx, ch)
}

// reshareSource is the grant a share of obj by the caller comes from: for a guest of obj's
// company, the grant that admits it to obj (the highest, most specific of its grants reaching
// obj); nil for members and the system, whose shares follow their membership.
func (c *conn) reshareSource(ctx context.Context, obj Object) (*Grant, error) {
	company := obj.ObjectCompanyID()
	if c.p.KindIn(company) != access.KindGuest {
		return nil, nil
	}
	ref := refOf(obj)
	by, err := c.admittingGrants(ctx, company, []ObjectRef{ref})
	if err != nil {
		return nil, fmt.Errorf("re-share source: %w", err)
	}
	if by[ref] == "" {
		return nil, errs.NotFoundf("object") // no grant admits the guest: it cannot see obj
	}
	src := new(Grant)
	if err := c.from(grantsTable, src).Where("grnt.company_id = ? AND grnt.id = ?", company, by[ref]).Scan(ctx); err != nil {
		return nil, notFound(err, "object")
	}
	return src, nil
}

// maxReshares bounds the grants one revocation ends (a chain of re-shares deeper or wider than
// this is refused rather than left half-ended).
const maxReshares = 10_000

// reshares returns the grants re-shared from the grant id, and from those, and so on. It reads
// in the company's tenant (the caller acts in it), beyond the caller's own grants.
func (c *conn) reshares(ctx context.Context, companyID, id string) ([]*Grant, error) {
	var out []*Grant
	seen := map[string]bool{id: true}
	frontier := []string{id}
	for len(frontier) > 0 {
		var next []*Grant
		if err := c.db.NewSelect().Model(&next).Where("grnt.company_id = ? AND grnt.source_grant_id IN (?)", companyID, bun.List(frontier)).
			OrderExpr("grnt.id").Scan(ctx); err != nil {
			return nil, fmt.Errorf("re-shares: %w", err)
		}
		frontier = frontier[:0]
		for _, g := range next {
			if !seen[g.ID] {
				seen[g.ID] = true
				out = append(out, g)
				frontier = append(frontier, g.ID)
			}
		}
		if len(out) > maxReshares {
			return nil, errs.New(errs.Conflict, "too many grants were re-shared from this one to end at once")
		}
	}
	return out, nil
}

// endReshares deletes grants that end with another (re-shares whose source ended, the shares
// of a removed member), recording an UNSHARE of each, so that their grantees' streams end as
// for a direct revocation.
func (c *conn) endReshares(ctx context.Context, gs []*Grant) error {
	for _, g := range gs {
		if _, err := c.db.NewDelete().Table("grants").Where("company_id = ? AND id = ?", g.CompanyID, g.ID).Exec(ctx); err != nil {
			return fmt.Errorf("end re-share: %w", err)
		}
		ch := Change{Kind: ChangeUnshared, CompanyID: g.CompanyID, UserIDs: []string{g.GranteeID},
			Fields: []FieldChange{{Field: "grantee", After: g.GranteeID}, {Field: "level", After: g.Level}}}
		if g.SourceGrantID != nil {
			ch.Fields = append(ch.Fields, FieldChange{Field: "sourceGrant", After: *g.SourceGrantID})
		}
		if g.FolderID != nil {
			ch.ObjectType, ch.ObjectID, ch.Path = TypeFolder, *g.FolderID, g.Path
		} else {
			ch.ObjectType, ch.ObjectID, ch.Path = TypeDocument, *g.DocumentID, strings.TrimSuffix(g.Path, *g.DocumentID+"/")
		}
		if err := c.emit(ctx, ch); err != nil {
			return err
		}
	}
	return nil
}

// endSharesOf ends the grants userID gave in companyID, and what was re-shared from them: a
// member's shares follow its membership.
func (c *conn) endSharesOf(ctx context.Context, companyID, userID string) error {
	var given []*Grant
	if err := c.db.NewSelect().Model(&given).Where("grnt.company_id = ? AND grnt.granted_by = ?", companyID, userID).
		OrderExpr("grnt.id").Scan(ctx); err != nil {
		return fmt.Errorf("shares of a member: %w", err)
	}
	seen := map[string]bool{}
	var ended []*Grant
	for _, g := range given {
		rs, err := c.reshares(ctx, companyID, g.ID)
		if err != nil {
			return err
		}
		for _, x := range append(rs, g) {
			if !seen[x.ID] {
				seen[x.ID] = true
				ended = append(ended, x)
			}
		}
	}
	return c.endReshares(ctx, ended)
}

func containsGrant(gs []*Grant, id string) bool {
	for _, g := range gs {
		if g.ID == id {
			return true
		}
	}
	return false
}

// refOf names a folder or document for admittingGrants.
func refOf(o Object) ObjectRef { return ObjectRef{Type: o.ObjectType(), ID: o.ObjectID()} }

// GrantsOn lists the grants on a folder or document; it needs MANAGE on it.
func (s *Store) GrantsOn(ctx context.Context, objectID string) ([]*Grant, error) {
	out := []*Grant{} // an empty list, not null: null would read as a denial
	err := s.read(ctx, func(c *conn) error {
		obj, err := c.object(ctx, objectID)
		if err != nil {
			return err
		}
		if err := c.require(ctx, obj, access.Manage); err != nil {
			return err
		}
		q := c.from(grantsTable, &out).Where("grnt.company_id = ?", obj.ObjectCompanyID())
		if _, isFolder := obj.(*Folder); isFolder {
			q = q.Where("grnt.folder_id = ?", objectID)
		} else {
			q = q.Where("grnt.document_id = ?", objectID)
		}
		return q.OrderExpr("grnt.created_at, grnt.id").Scan(ctx)
	})
	return out, err
}

// SharedWithMe lists the caller's unexpired grants, in every company.
func (s *Store) SharedWithMe(ctx context.Context) ([]*Grant, error) {
	out := []*Grant{} // an empty list, not null: null would read as a denial
	err := s.read(ctx, func(c *conn) error {
		return c.from(grantsTable, &out).Where("grnt.grantee_id = ? AND (grnt.expires_at IS NULL OR grnt.expires_at > ?)", c.p.UserID, c.now).
			OrderExpr("grnt.created_at DESC, grnt.id").Limit(MaxPageSize * 10).Scan(ctx)
	})
	return out, err
}

// object loads a folder or document visible to the caller.
func (c *conn) object(ctx context.Context, id string) (Object, error) {
	if d, err := c.document(ctx, id); err == nil {
		return d, nil
	} else if errs.KindOf(err) != errs.NotFound {
		return nil, err
	}
	f, err := c.folder(ctx, id)
	if err != nil {
		return nil, errs.NotFoundf("object")
	}
	return f, nil
}

func (c *conn) objectWithDeleted(ctx context.Context, id string) (Object, error) {
	d := new(Document)
	if err := c.from(deletedDocumentsTable, d).Where("document.id = ?", id).Scan(ctx); err == nil {
		return d, nil
	}
	f := new(Folder)
	if err := c.from(deletedFoldersTable, f).Where("folder.id = ?", id).Scan(ctx); err != nil {
		return nil, notFound(err, "object")
	}
	return f, nil
}

// CanShare checks that the caller may share an object at a level, without sharing it: it lets
// the caller be refused before anything is created for the grantee.
func (s *Store) CanShare(ctx context.Context, objectID string, level access.Right) (Object, error) {
	var obj Object
	err := s.read(ctx, func(c *conn) error {
		o, err := c.object(ctx, objectID)
		if err != nil {
			return err
		}
		right, err := c.right(ctx, o)
		if err != nil {
			return err
		}
		obj = o
		return mayShare(c.p, o, right, level)
	})
	return obj, err
}
