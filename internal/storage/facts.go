package storage

import (
	"context"
	"fmt"
	"strings"

	"github.com/uptrace/bun"

	"github.com/laatu/laatu/internal/access"
)

// The types of the objects of a company, as changes, audit events, grants and notifications
// name them: one set, here, for every package.
const (
	TypeFolder   = "FOLDER"
	TypeDocument = "DOCUMENT"
	TypeComment  = "COMMENT"
	TypeTemplate = "DOCUMENT_TEMPLATE"
)

// Object is a folder or a document: what grants, rights and the directives reach. Only the two
// implement it.
type Object interface {
	// ObjectType is TypeFolder or TypeDocument.
	ObjectType() string
	// ObjectID is the object's id.
	ObjectID() string
	// ObjectPath is the path that grants and restrictions above the object match: a folder's
	// own path, or a document's folder path.
	ObjectPath() string
	// ObjectCompanyID is the id of the object's company.
	ObjectCompanyID() string
	ownerID() string
}

// ObjectType is TypeFolder.
func (f *Folder) ObjectType() string { return TypeFolder }

// ObjectID is the folder's id.
func (f *Folder) ObjectID() string { return f.ID }

// ObjectPath is the folder's own path.
func (f *Folder) ObjectPath() string { return f.Path }

// ObjectCompanyID is the folder's company.
func (f *Folder) ObjectCompanyID() string { return f.CompanyID }

func (f *Folder) ownerID() string { return f.OwnerID }

// ObjectType is TypeDocument.
func (d *Document) ObjectType() string { return TypeDocument }

// ObjectID is the document's id.
func (d *Document) ObjectID() string { return d.ID }

// ObjectPath is the path of the document's folder.
func (d *Document) ObjectPath() string { return d.FolderPath }

// ObjectCompanyID is the document's company.
func (d *Document) ObjectCompanyID() string { return d.CompanyID }

func (d *Document) ownerID() string { return d.OwnerID }

// documentID is the document's id, empty for a folder.
func documentID(o Object) string {
	if o.ObjectType() == TypeDocument {
		return o.ObjectID()
	}
	return ""
}

// Rights returns the principal's effective right on each object, in order, with two queries
// whatever the number of objects.
func (s *Store) Rights(ctx context.Context, objs []Object) ([]access.Right, error) {
	var out []access.Right
	err := s.read(ctx, func(c *conn) (err error) {
		out, err = c.rights(ctx, objs)
		return err
	})
	return out, err
}

// rights computes access.Can for each object. The facts it needs are read within the objects'
// companies only, without the permission filter: whether a folder above is restricted must be
// known even when that folder itself is hidden from the caller.
func (c *conn) rights(ctx context.Context, objs []Object) ([]access.Right, error) {
	out := make([]access.Right, len(objs))
	if len(objs) == 0 {
		return out, nil
	}
	if c.p.System() {
		for i := range out {
			out[i] = access.Manage
		}
		return out, nil
	}
	if !c.p.Authenticated() {
		for i := range out {
			out[i] = access.None
		}
		return out, nil
	}
	companies := map[string]bool{}
	for _, o := range objs {
		companies[o.ObjectCompanyID()] = true
	}
	var memberOf []string
	for id := range companies {
		if c.p.LevelIn(id) != "" {
			memberOf = append(memberOf, id)
		}
	}
	// Restricted folders matter only where the caller is a member (rule 3 of access.Can); the
	// caller's company is the only one whose folders row-level security lets it read anyway.
	var restricted []struct {
		CompanyID string `bun:"company_id"`
		Path      string `bun:"path"`
	}
	if len(memberOf) > 0 {
		err := c.policyFacts(foldersTable, memberOf).ColumnExpr("folder.company_id, folder.path").
			Where("folder.restricted").Scan(ctx, &restricted)
		if err != nil {
			return nil, fmt.Errorf("restricted folders: %w", err)
		}
	}
	var grants []Grant
	ids := make([]string, 0, len(companies))
	for id := range companies {
		ids = append(ids, id)
	}
	err := c.from(grantsTable, &grants).
		Where("grnt.grantee_id = ? AND grnt.company_id IN (?) AND (grnt.expires_at IS NULL OR grnt.expires_at > ?)", c.p.UserID, bun.List(ids), c.now).
		Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("grants: %w", err)
	}
	for i, o := range objs {
		f := access.Facts{CompanyID: o.ObjectCompanyID(), OwnerID: o.ownerID(), Grant: access.None}
		for _, r := range restricted {
			if r.CompanyID == f.CompanyID && strings.HasPrefix(o.ObjectPath(), r.Path) {
				f.Restricted = true
			}
		}
		for _, g := range grants {
			if g.CompanyID != f.CompanyID {
				continue
			}
			if (g.DocumentID != nil && *g.DocumentID == documentID(o)) ||
				(g.FolderID != nil && strings.HasPrefix(o.ObjectPath(), g.Path)) {
				f.Grant = f.Grant.Max(g.Level)
			}
		}
		out[i] = access.Can(c.p, f)
	}
	return out, nil
}

// Reach returns the folder or document that id names when the caller holds at least need on
// it: NOT_FOUND when the caller may not view it, exactly like an id that exists nowhere, and
// FORBIDDEN when it may view it but holds less than need. Readers outside storage (the audit
// trail) call it as the wall behind their directive.
func (s *Store) Reach(ctx context.Context, id string, need access.Right) (Object, error) {
	var out Object
	err := s.read(ctx, func(c *conn) error {
		o, err := c.object(ctx, id)
		if err != nil {
			return err
		}
		if err := c.require(ctx, o, need); err != nil {
			return err
		}
		out = o
		return nil
	})
	return out, err
}

func (c *conn) right(ctx context.Context, o Object) (access.Right, error) {
	r, err := c.rights(ctx, []Object{o})
	if err != nil {
		return access.None, err
	}
	return r[0], nil
}
