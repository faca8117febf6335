package storage

import (
	"context"
	"fmt"
	"strings"

	"github.com/uptrace/bun"

	"github.com/laatu/laatu/internal/access"
	"github.com/laatu/laatu/internal/errs"
)

// FolderSort orders folder lists.
type FolderSort string

// The folder sort keys.
const (
	FolderNameAsc       FolderSort = "NAME_ASC"
	FolderNameDesc      FolderSort = "NAME_DESC"
	FolderCreatedAtAsc  FolderSort = "CREATED_AT_ASC"
	FolderCreatedAtDesc FolderSort = "CREATED_AT_DESC"
)

// FolderFilter narrows a folder list.
type FolderFilter struct {
	// ParentID lists the children of a folder; nil with Roots lists top-level folders.
	ParentID *string
	// Roots lists only top-level folders of the active company.
	Roots bool
	// NameContains matches names case-insensitively.
	NameContains *string
}

// Folder returns one folder the caller may view, or NOT_FOUND.
func (s *Store) Folder(ctx context.Context, id string) (*Folder, error) {
	m, err := s.FoldersByID(ctx, []string{id})
	if err != nil {
		return nil, err
	}
	if f := m[id]; f != nil {
		return f, nil
	}
	return nil, errs.NotFoundf("folder")
}

// FoldersByID returns the folders among ids that the caller may view.
func (s *Store) FoldersByID(ctx context.Context, ids []string) (map[string]*Folder, error) {
	return visibleByID(ctx, s, foldersTable, ids, func(f *Folder) string { return f.ID })
}

var folderSorts = map[FolderSort]sortSpec[*Folder]{
	FolderNameAsc:       {"folder.name", false, func(f *Folder) any { return f.Name }, cursor.stringAny},
	FolderNameDesc:      {"folder.name", true, func(f *Folder) any { return f.Name }, cursor.stringAny},
	FolderCreatedAtAsc:  {"folder.created_at", false, func(f *Folder) any { return f.CreatedAt }, cursor.timeAny},
	FolderCreatedAtDesc: {"folder.created_at", true, func(f *Folder) any { return f.CreatedAt }, cursor.timeAny},
}

// Folders lists the folders the caller may view, in the active company and shared with it.
func (s *Store) Folders(ctx context.Context, f FolderFilter, sort FolderSort, page PageArgs) (*Page[*Folder], error) {
	spec, ok := folderSorts[sort]
	if !ok {
		spec = folderSorts[FolderNameAsc]
	}
	filter := func(c *conn, q scoped) scoped {
		if f.Roots && c.p.CompanyID == "" {
			q = q.Where("1 = 0") // a guest has no top-level folders; '' is no uuid on PostgreSQL
		} else if f.Roots {
			q = q.Where("folder.parent_id IS NULL AND folder.company_id = ?", c.arg(c.p.CompanyID))
		}
		if f.ParentID != nil && !validID(*f.ParentID) {
			q = q.Where("1 = 0") // malformed: matches nothing, like an unknown id
		} else if f.ParentID != nil {
			q = q.Where("folder.parent_id = ?", c.arg(*f.ParentID))
		}
		if f.NameContains != nil && *f.NameContains != "" {
			q = q.Where("lower(folder.name) LIKE ? ESCAPE '\\'", c.arg(likePattern(*f.NameContains)))
		}
		return q
	}
	return paginate(ctx, s, foldersTable, spec, page, filter)
}

// NewFolder is the input of CreateFolder.
type NewFolder struct {
	ParentID    *string
	Name        string
	Description string
	Restricted  bool
}

// CreateFolder creates a folder. A top-level folder needs MANAGER or above in the active
// company; a subfolder needs MANAGE on its parent (EDIT for a member of the company).
func (s *Store) CreateFolder(ctx context.Context, in NewFolder) (*Folder, error) {
	if err := validateName("name", in.Name, 200); err != nil {
		return nil, err
	}
	var out *Folder
	err := s.write(ctx, func(c *conn) error {
		f := &Folder{ID: NewID(), Name: strings.TrimSpace(in.Name), Description: in.Description,
			Restricted: in.Restricted, OwnerID: c.p.UserID, CreatedAt: c.now, UpdatedAt: c.now}
		if in.ParentID == nil {
			if !c.p.Level.AtLeast(access.Manager) && !c.p.System() {
				return errs.New(errs.Forbidden, "only managers and admins create top-level folders")
			}
			f.CompanyID, f.Path = c.p.CompanyID, "/"+f.ID+"/"
			return c.insertFolder(ctx, f, &out)
		}
		parent, err := c.folder(ctx, *in.ParentID)
		if err != nil {
			return err
		}
		if err := c.requireToAdd(ctx, parent); err != nil {
			return err
		}
		f.CompanyID, f.ParentID, f.Path = parent.CompanyID, &parent.ID, parent.Path+f.ID+"/"
		return c.actingIn(ctx, parent.CompanyID, func(c *conn) error { return c.insertFolder(ctx, f, &out) })
	})
	return out, err
}

func (c *conn) insertFolder(ctx context.Context, f *Folder, out **Folder) error {
	if f.Version == 0 {
		f.Version = 1
	}
	if _, err := c.db.NewInsert().Model(f).Exec(ctx); err != nil {
		return fmt.Errorf("insert folder: %w", err)
	}
	*out = f
	return c.changed(ctx, ChangeCreated, f)
}

// requireToAdd checks that the caller may add folders or documents to parent: members of its
// company need EDIT, guests need MANAGE (DESIGN.md: "MANAGE also adds documents to a folder").
func (c *conn) requireToAdd(ctx context.Context, parent *Folder) error {
	right, err := c.right(ctx, parent)
	if err != nil {
		return err
	}
	need := access.Edit
	if c.p.LevelIn(parent.CompanyID) == "" {
		need = access.Manage
	}
	if !right.AtLeast(need) {
		return errs.New(errs.Forbidden, "you may not add to this folder")
	}
	return nil
}

// FolderPatch is a partial update: nil fields stay as they are.
type FolderPatch struct {
	Name        *string
	Description *string
	Restricted  *bool
}

// UpdateFolder changes a folder; it needs EDIT, and MANAGE to change Restricted.
func (s *Store) UpdateFolder(ctx context.Context, id string, p FolderPatch) (*Folder, error) {
	if p.Name != nil {
		if err := validateName("name", *p.Name, 200); err != nil {
			return nil, err
		}
	}
	var out *Folder
	err := s.write(ctx, func(c *conn) error {
		f, err := c.folder(ctx, id)
		if err != nil {
			return err
		}
		need := access.Edit
		if p.Restricted != nil {
			need = access.Manage
		}
		if err := c.require(ctx, f, need); err != nil {
			return err
		}
		before := *f
		cols := []string{"updated_at", "version"}
		if p.Name != nil {
			f.Name = strings.TrimSpace(*p.Name)
			cols = append(cols, "name")
		}
		if p.Description != nil {
			f.Description = *p.Description
			cols = append(cols, "description")
		}
		if p.Restricted != nil {
			f.Restricted = *p.Restricted
			cols = append(cols, "restricted")
		}
		fields := folderDiff(&before, f)
		if len(fields) == 0 {
			out = f
			return nil
		}
		f.UpdatedAt, f.Version = c.now, f.Version+1
		return c.actingIn(ctx, f.CompanyID, func(c *conn) error {
			if err := c.saveVersion(ctx, "FOLDER", f.ID, f.CompanyID, before.Version, &before); err != nil {
				return err
			}
			if _, err := c.db.NewUpdate().Model(f).Column(cols...).
				Where("company_id = ? AND id = ?", f.CompanyID, f.ID).Exec(ctx); err != nil {
				return fmt.Errorf("update folder: %w", err)
			}
			out = f
			return c.changed(ctx, ChangeUpdated, f, fields...)
		})
	})
	return out, err
}

// DeleteFolder soft-deletes a folder and everything below it; it needs MANAGE.
func (s *Store) DeleteFolder(ctx context.Context, id string) (*Folder, error) {
	var out *Folder
	err := s.write(ctx, func(c *conn) error {
		f, err := c.folder(ctx, id)
		if err != nil {
			return err
		}
		if err := c.require(ctx, f, access.Manage); err != nil {
			return err
		}
		return c.actingIn(ctx, f.CompanyID, func(c *conn) error {
			like := f.Path + "%"
			if _, err := c.db.NewUpdate().Table("documents").Set("deleted_at = ?", c.now).
				Where("company_id = ? AND folder_path LIKE ? AND deleted_at IS NULL", f.CompanyID, like).Exec(ctx); err != nil {
				return fmt.Errorf("delete folder documents: %w", err)
			}
			if _, err := c.db.NewUpdate().Table("folders").Set("deleted_at = ?", c.now).
				Where("company_id = ? AND path LIKE ? AND deleted_at IS NULL", f.CompanyID, like).Exec(ctx); err != nil {
				return fmt.Errorf("delete folders: %w", err)
			}
			f.DeletedAt = &c.now
			out = f
			return c.changed(ctx, ChangeDeleted, f)
		})
	})
	return out, err
}

// folder loads a folder visible to the caller.
func (c *conn) folder(ctx context.Context, id string) (*Folder, error) {
	if !validID(id) {
		return nil, errs.NotFoundf("folder")
	}
	f := new(Folder)
	if err := c.from(foldersTable, f).Where("folder.id = ?", id).Scan(ctx); err != nil {
		return nil, notFound(err, "folder")
	}
	return f, nil
}

// require checks that the caller holds at least need on a visible object; otherwise FORBIDDEN.
func (c *conn) require(ctx context.Context, o Object, need access.Right) error {
	right, err := c.right(ctx, o)
	if err != nil {
		return err
	}
	if !right.AtLeast(need) {
		return errs.New(errs.Forbidden, "you may not do this to this object")
	}
	return nil
}

func folderDiff(a, b *Folder) []FieldChange {
	var out []FieldChange
	if a.Name != b.Name {
		out = append(out, FieldChange{Field: "name", Before: a.Name, After: b.Name})
	}
	if a.Description != b.Description {
		out = append(out, FieldChange{Field: "description", Before: a.Description, After: b.Description})
	}
	if a.Restricted != b.Restricted {
		out = append(out, FieldChange{Field: "restricted", Before: a.Restricted, After: b.Restricted})
	}
	return out
}

// RestoreFolder brings a deleted folder back with everything that was deleted with it, and with
// version also its name, description and restriction as they were at that version (as a new
// version: nothing is lost). ADMIN only.
func (s *Store) RestoreFolder(ctx context.Context, id string, version *int) (*Folder, error) {
	var out *Folder
	err := s.write(ctx, func(c *conn) error {
		if !c.p.Level.AtLeast(access.Admin) {
			return errs.New(errs.Forbidden, "only admins restore")
		}
		if !validID(id) {
			return errs.NotFoundf("folder")
		}
		f := new(Folder)
		if err := c.from(deletedFoldersTable, f).Where("folder.id = ? AND folder.company_id = ?", id, c.p.CompanyID).Scan(ctx); err != nil {
			return notFound(err, "folder")
		}
		out = f
		if err := c.undeleteFolder(ctx, f); err != nil || version == nil {
			return err
		}
		v := new(ObjectVersion)
		if err := c.from(versionsTable, v).Where("objver.object_id = ? AND objver.object_type = 'FOLDER' AND objver.version = ?", id, *version).
			OrderExpr("objver.created_at DESC").Limit(1).Scan(ctx); err != nil {
			return notFound(err, "version")
		}
		var old Folder
		if err := remarshal(v.Data, &old); err != nil {
			return err
		}
		before, after := *f, *f
		after.Name, after.Description, after.Restricted = old.Name, old.Description, old.Restricted
		fields := folderDiff(&before, &after)
		if len(fields) == 0 {
			return nil
		}
		after.Version, after.UpdatedAt = f.Version+1, c.now
		if err := c.saveVersion(ctx, "FOLDER", f.ID, f.CompanyID, f.Version, &before); err != nil {
			return err
		}
		if _, err := c.db.NewUpdate().Model(&after).Column("name", "description", "restricted", "version", "updated_at").
			Where("company_id = ? AND id = ?", f.CompanyID, f.ID).Exec(ctx); err != nil {
			return fmt.Errorf("restore folder version: %w", err)
		}
		out = &after
		return c.changed(ctx, ChangeRestored, &after, fields...)
	})
	return out, err
}

// FolderVersions lists the saved earlier states of a folder, newest first; it needs MANAGE.
func (s *Store) FolderVersions(ctx context.Context, id string) ([]*ObjectVersion, error) {
	var out []*ObjectVersion
	err := s.read(ctx, func(c *conn) error {
		f, err := c.folder(ctx, id)
		if err != nil {
			return err
		}
		if err := c.require(ctx, f, access.Manage); err != nil {
			return err
		}
		return c.actingIn(ctx, f.CompanyID, func(c *conn) error {
			return c.from(versionsTable, &out).Where("objver.object_id = ? AND objver.object_type = 'FOLDER'", f.ID).
				OrderExpr("objver.version DESC, objver.id DESC").Limit(MaxPageSize).Scan(ctx)
		})
	})
	return out, err
}

// FoldersByParent returns one page of child folders for each parent, in one query.
func (s *Store) FoldersByParent(ctx context.Context, parents []Parent, sortKey FolderSort, page PageArgs) (map[string]*Page[*Folder], error) {
	spec, ok := folderSorts[sortKey]
	if !ok {
		spec = folderSorts[FolderNameAsc]
	}
	return pagesByParent(ctx, s, foldersTable, "parent_id", parents, spec, page, nil,
		func(f *Folder) string { return deref(f.ParentID) })
}

// CountFoldersByParent counts each parent's child folders that the caller may view.
func (s *Store) CountFoldersByParent(ctx context.Context, parentIDs []string) (map[string]int, error) {
	parentIDs = validIDs(parentIDs)
	out := make(map[string]int, len(parentIDs))
	var rows []struct {
		ParentID string `bun:"parent_id"`
		N        int    `bun:"n"`
	}
	err := s.read(ctx, func(c *conn) error {
		if len(parentIDs) == 0 {
			return nil
		}
		return c.from(foldersTable, (*Folder)(nil)).ColumnExpr("folder.parent_id, count(*) AS n").
			Where("folder.parent_id IN (?)", bun.List(parentIDs)).GroupExpr("folder.parent_id").Scan(ctx, &rows)
	})
	if err != nil {
		return nil, fmt.Errorf("count folders by parent: %w", err)
	}
	for _, id := range parentIDs {
		out[id] = 0
	}
	for _, r := range rows {
		out[r.ParentID] = r.N
	}
	return out, nil
}
