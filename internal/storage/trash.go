package storage

// The trash. Deleting a folder or document only sets its deleted_at (a folder's subtree gets
// the same instant, which is how undelete knows what went together). The trash lists the
// deletion roots: objects deleted on their own, not along with a folder above them. Undelete
// brings a root back with everything deleted with it, within the retention; after it, Purge
// removes the rows for good (their audit events stay).

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/uptrace/bun"

	"github.com/laatu/laatu/internal/access"
	"github.com/laatu/laatu/internal/database"
	"github.com/laatu/laatu/internal/errs"
)

// DefaultTrashRetention is how long deleted objects stay restorable unless configured.
const DefaultTrashRetention = 30 * 24 * time.Hour

// ChangePurged is the audit action of an object removed for good by the retention purge.
const ChangePurged ChangeKind = "PURGE"

// SetTrashRetention sets how long deleted objects stay in the trash. It is called during
// wiring, before the store serves requests.
func (s *Store) SetTrashRetention(d time.Duration) {
	if d > 0 {
		s.retention = d
	}
}

// TrashRetention is how long deleted objects stay in the trash.
func (s *Store) TrashRetention() time.Duration {
	if s.retention <= 0 {
		return DefaultTrashRetention
	}
	return s.retention
}

// TrashItem is one deletion root in a company's trash.
type TrashItem struct {
	// ObjectType is FOLDER or DOCUMENT.
	ObjectType string
	ID         string
	CompanyID  string
	// Name is a folder's name or a document's title.
	Name      string
	OwnerID   string
	DeletedAt time.Time
	// PurgeAfter is when the retention ends and the purge removes the object.
	PurgeAfter time.Time
}

// trashVisible admits the deleted rows of the active company that the caller may see in the
// trash: all of them for an ADMIN, its own for any other member, none for guests (an owner
// reaches its objects only while a member, DESIGN.md's permission rule).
func trashVisible(c *conn, t string) (string, []any) {
	if c.p.CompanyID == "" || c.p.Level == "" {
		return "1 = 0", nil
	}
	if c.p.Level.AtLeast(access.Admin) {
		return t + ".company_id = ?", []any{c.p.CompanyID}
	}
	return "(" + t + ".company_id = ? AND " + t + ".owner_id = ?)", []any{c.p.CompanyID, c.p.UserID}
}

var (
	// trashFoldersTable and trashDocumentsTable hold the deletion roots: a folder whose parent
	// was not deleted at the same instant, a document whose folder was not.
	trashFoldersTable = tenantTable{"folders", "folder", "t.deleted_at IS NOT NULL AND NOT EXISTS (SELECT 1 FROM folders AS tp" +
		" WHERE tp.company_id = t.company_id AND tp.id = t.parent_id AND tp.deleted_at = t.deleted_at)", "", trashVisible, nil}
	trashDocumentsTable = tenantTable{"documents", "document", "t.deleted_at IS NOT NULL AND NOT EXISTS (SELECT 1 FROM folders AS tp" +
		" WHERE tp.company_id = t.company_id AND tp.id = t.folder_id AND tp.deleted_at = t.deleted_at)", "", trashVisible, nil}
)

// Trash lists the deletion roots the caller may see whose retention has not ended, most
// recently deleted first.
func (s *Store) Trash(ctx context.Context, page PageArgs) (*Page[*TrashItem], error) {
	out := &Page[*TrashItem]{}
	err := s.read(ctx, func(c *conn) error {
		since := c.now.Add(-s.TrashRetention())
		var folders []*Folder
		var docs []*Document
		fs := sortSpec[*Folder]{col: "folder.deleted_at", desc: true, parse: cursor.timeAny}
		fq, err := fs.after(c.from(trashFoldersTable, &folders).Where("folder.deleted_at >= ?", since), "folder.id", page.After)
		if err != nil {
			return err
		}
		if err := fq.OrderExpr(fs.order("folder.id")).Limit(page.First + 1).Scan(ctx); err != nil {
			return fmt.Errorf("trash folders: %w", err)
		}
		ds := sortSpec[*Document]{col: "document.deleted_at", desc: true, parse: cursor.timeAny}
		dq, err := ds.after(c.from(trashDocumentsTable, &docs).Where("document.deleted_at >= ?", since), "document.id", page.After)
		if err != nil {
			return err
		}
		if err := dq.OrderExpr(ds.order("document.id")).Limit(page.First + 1).Scan(ctx); err != nil {
			return fmt.Errorf("trash documents: %w", err)
		}
		var items []*TrashItem
		for _, f := range folders {
			items = append(items, &TrashItem{ObjectType: "FOLDER", ID: f.ID, CompanyID: f.CompanyID, Name: f.Name,
				OwnerID: f.OwnerID, DeletedAt: *f.DeletedAt, PurgeAfter: f.DeletedAt.Add(s.TrashRetention())})
		}
		for _, d := range docs {
			items = append(items, &TrashItem{ObjectType: "DOCUMENT", ID: d.ID, CompanyID: d.CompanyID, Name: d.Title,
				OwnerID: d.OwnerID, DeletedAt: *d.DeletedAt, PurgeAfter: d.DeletedAt.Add(s.TrashRetention())})
		}
		sort.Slice(items, func(i, j int) bool {
			a, b := items[i], items[j]
			if !a.DeletedAt.Equal(b.DeletedAt) {
				return a.DeletedAt.After(b.DeletedAt)
			}
			return a.ID > b.ID
		})
		if len(items) > page.First {
			items, out.HasNext = items[:page.First], true
		}
		out.Items = items
		for _, it := range items {
			out.Cursors = append(out.Cursors, encodeCursor(it.DeletedAt, it.ID))
		}
		return nil
	})
	return out, err
}

// Undelete brings a deletion root of the caller's trash back, with everything deleted along
// with it (a folder's subtree; comments and grants were never removed), as it was. An object
// the caller may not see in its trash, or whose retention has ended, is NOT_FOUND; one whose
// folder is itself in the trash is a CONFLICT (undelete the folder).
func (s *Store) Undelete(ctx context.Context, id string) (Object, error) {
	var out Object
	err := s.write(ctx, func(c *conn) error {
		if !validID(id) {
			return errs.NotFoundf("object")
		}
		since := c.now.Add(-s.TrashRetention())
		f := new(Folder)
		err := c.from(trashFoldersTable, f).Where("folder.id = ? AND folder.deleted_at >= ?", id, since).Scan(ctx)
		if err == nil {
			if err := c.refuseDeletedFolder(ctx, f.CompanyID, f.ParentID); err != nil {
				return err
			}
			out = f
			return c.undeleteFolder(ctx, f)
		}
		if err := notFound(err, "object"); errs.KindOf(err) != errs.NotFound {
			return err
		}
		d := new(Document)
		if err := c.from(trashDocumentsTable, d).Where("document.id = ? AND document.deleted_at >= ?", id, since).Scan(ctx); err != nil {
			return notFound(err, "object")
		}
		if err := c.refuseDeletedFolder(ctx, d.CompanyID, &d.FolderID); err != nil {
			return err
		}
		at := *d.DeletedAt
		if _, err := c.db.NewUpdate().Table("documents").Set("deleted_at = NULL").
			Where("company_id = ? AND id = ?", d.CompanyID, d.ID).Exec(ctx); err != nil {
			return fmt.Errorf("undelete document: %w", err)
		}
		d.DeletedAt = nil
		out = d
		return c.changed(ctx, ChangeRestored, d, FieldChange{Field: "deletedAt", Before: at})
	})
	return out, err
}

// refuseDeletedFolder answers CONFLICT when the folder an object would return into is itself
// deleted: it would come back invisible.
func (c *conn) refuseDeletedFolder(ctx context.Context, companyID string, folderID *string) error {
	if folderID == nil {
		return nil
	}
	n, err := c.db.NewSelect().Table("folders").Where("company_id = ? AND id = ? AND deleted_at IS NOT NULL", companyID, *folderID).Count(ctx)
	if err != nil {
		return fmt.Errorf("undelete: parent folder: %w", err)
	}
	if n > 0 {
		return errs.New(errs.Conflict, "the folder it was in is in the trash too: undelete that folder first")
	}
	return nil
}

// undeleteFolder clears deleted_at on a deleted folder and on everything deleted with it.
func (c *conn) undeleteFolder(ctx context.Context, f *Folder) error {
	if f.DeletedAt == nil {
		return nil
	}
	// What was deleted together carries the same deleted_at.
	at, like := *f.DeletedAt, f.Path+"%"
	for _, table := range []struct{ name, path string }{{"folders", "path"}, {"documents", "folder_path"}} {
		if _, err := c.db.NewUpdate().Table(table.name).Set("deleted_at = NULL").
			Where("company_id = ? AND "+table.path+" LIKE ? AND deleted_at = ?", f.CompanyID, like, at).Exec(ctx); err != nil {
			return fmt.Errorf("undelete folder: %w", err)
		}
	}
	f.DeletedAt = nil
	return c.changed(ctx, ChangeRestored, f, FieldChange{Field: "deletedAt", Before: at})
}

// PurgeResult says what Purge removed.
type PurgeResult struct {
	Companies, Folders, Documents int
}

// Purge removes for good the folders and documents deleted before cutoff, with their
// comments, grants and saved versions, company by company, and records a PURGE event for each
// (the audit events of their past stay). It runs as the system; ctx needs no principal.
func (s *Store) Purge(ctx context.Context, cutoff time.Time) (PurgeResult, error) {
	var res PurgeResult
	var companies []string
	// Which companies hold expired rows: the one system-wide read, allowed on PostgreSQL by the
	// trash-scan policies for a transaction that declares itself the purge.
	err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if s.db.Dialect == database.Postgres {
			if _, err := tx.ExecContext(ctx, "SELECT set_config('app.maintenance', 'purge', true)"); err != nil {
				return err
			}
		}
		return tx.NewRaw("SELECT company_id FROM folders WHERE deleted_at < ? UNION SELECT company_id FROM documents WHERE deleted_at < ?",
			cutoff, cutoff).Scan(ctx, &companies)
	})
	if err != nil {
		return res, fmt.Errorf("purge: find companies: %w", err)
	}
	sort.Strings(companies)
	for _, company := range companies {
		f, d, err := s.purgeCompany(access.AsSystem(ctx, company), company, cutoff)
		if err != nil {
			return res, fmt.Errorf("purge company %s: %w", company, err)
		}
		res.Companies++
		res.Folders += f
		res.Documents += d
	}
	return res, nil
}

func (s *Store) purgeCompany(ctx context.Context, company string, cutoff time.Time) (nFolders, nDocs int, err error) {
	err = s.write(ctx, func(c *conn) error {
		var folders []*Folder
		// A folder expires with its deletion; everything below an expired folder goes with it.
		if err := c.db.NewSelect().Model(&folders).Where("folder.company_id = ? AND folder.deleted_at < ?", company, cutoff).
			Scan(ctx); err != nil {
			return fmt.Errorf("expired folders: %w", err)
		}
		var below []*Folder
		for _, f := range folders {
			if err := c.db.NewSelect().Model(&below).Where("folder.company_id = ? AND folder.path LIKE ? AND folder.deleted_at IS NOT NULL", company, f.Path+"%").
				Scan(ctx); err != nil {
				return fmt.Errorf("folders below: %w", err)
			}
			folders = append(folders, below...)
			below = nil
		}
		folders = uniqueBy(folders, func(f *Folder) string { return f.ID })
		var docs []*Document
		q := c.db.NewSelect().Model(&docs).Where("document.company_id = ? AND document.deleted_at IS NOT NULL", company).
			WhereGroup(" AND ", func(q *bun.SelectQuery) *bun.SelectQuery {
				q = q.Where("document.deleted_at < ?", cutoff)
				for _, f := range folders {
					q = q.WhereOr("document.folder_path LIKE ?", f.Path+"%")
				}
				return q
			})
		if err := q.Scan(ctx); err != nil {
			return fmt.Errorf("expired documents: %w", err)
		}
		docIDs := make([]string, len(docs))
		for i, d := range docs {
			docIDs[i] = d.ID
		}
		// Deepest folders first, so that no folder goes before its children.
		sort.Slice(folders, func(i, j int) bool { return len(folders[i].Path) > len(folders[j].Path) })
		folderIDs := make([]string, len(folders))
		for i, f := range folders {
			folderIDs[i] = f.ID
		}
		if len(docIDs) > 0 {
			for _, del := range []struct{ table, col string }{{"comments", "document_id"}, {"grants", "document_id"}, {"object_versions", "object_id"}} {
				if _, err := c.db.NewDelete().Table(del.table).Where("company_id = ? AND "+del.col+" IN (?)", company, bun.In(docIDs)).Exec(ctx); err != nil {
					return fmt.Errorf("purge %s: %w", del.table, err)
				}
			}
			if _, err := c.db.NewDelete().Table("documents").Where("company_id = ? AND id IN (?)", company, bun.In(docIDs)).Exec(ctx); err != nil {
				return fmt.Errorf("purge documents: %w", err)
			}
		}
		if len(folderIDs) > 0 {
			for _, del := range []struct{ table, col string }{{"grants", "folder_id"}, {"object_versions", "object_id"}} {
				if _, err := c.db.NewDelete().Table(del.table).Where("company_id = ? AND "+del.col+" IN (?)", company, bun.In(folderIDs)).Exec(ctx); err != nil {
					return fmt.Errorf("purge %s: %w", del.table, err)
				}
			}
			for _, id := range folderIDs {
				if _, err := c.db.NewDelete().Table("folders").Where("company_id = ? AND id = ?", company, id).Exec(ctx); err != nil {
					return fmt.Errorf("purge folder: %w", err)
				}
			}
		}
		for _, d := range docs {
			if err := c.changed(ctx, ChangePurged, d, FieldChange{Field: "title", Before: d.Title},
				FieldChange{Field: "deletedAt", Before: *d.DeletedAt}); err != nil {
				return err
			}
		}
		for _, f := range folders {
			if err := c.changed(ctx, ChangePurged, f, FieldChange{Field: "name", Before: f.Name},
				FieldChange{Field: "deletedAt", Before: *f.DeletedAt}); err != nil {
				return err
			}
		}
		nFolders, nDocs = len(folders), len(docs)
		return nil
	})
	return nFolders, nDocs, err
}

func uniqueBy[T any](in []T, key func(T) string) []T {
	seen := make(map[string]bool, len(in))
	out := in[:0]
	for _, v := range in {
		if k := key(v); !seen[k] {
			seen[k] = true
			out = append(out, v)
		}
	}
	return out
}

// RunPurge purges the trash once at start and then every interval until ctx ends, logging
// through report. It is the server's daily purge.
func (s *Store) RunPurge(ctx context.Context, every time.Duration, report func(PurgeResult, error)) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		res, err := s.Purge(ctx, s.now().Add(-s.TrashRetention()))
		if ctx.Err() != nil {
			return
		}
		report(res, err)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
