package storage

import (
	"context"
	"fmt"
	"sort"

	"github.com/uptrace/bun"

	"github.com/laatu/laatu/internal/errs"
)

// BackupObjects are the rows of one document, or of one folder with everything below it, as a
// backup holds them.
type BackupObjects struct {
	// BackupID names the backup, for the RESTORE events.
	BackupID  string
	Folders   []*Folder
	Documents []*Document
	Comments  []*Comment
	Grants    []*Grant
	Versions  []*ObjectVersion
}

// RestoreResult says what a restore from a backup did.
type RestoreResult struct {
	// Returned counts folders and documents that were gone and came back as they were.
	Returned int
	// Versioned counts those that still existed and got the backup's state as a new version.
	Versioned int
	// Comments, Grants and Versions count the rows added back.
	Comments, Grants, Versions int
}

// RestoreFromBackup brings objects from a backup back into a company's live data. An object
// that is gone returns as it was; one that still exists (even in the trash) gets the backup's
// state as a new version, its current state kept as an old one, so newer work is never lost
// silently. Comments, grants and saved versions missing now are added back. Each folder and
// document gets a RESTORE event naming the backup. It runs as the system in companyID.
func (s *Store) RestoreFromBackup(ctx context.Context, companyID string, b BackupObjects) (RestoreResult, error) {
	var res RestoreResult
	err := s.write(ctx, func(c *conn) error {
		if !c.p.System() || c.p.CompanyID != companyID {
			return errs.New(errs.Forbidden, "restoring from a backup is an operator's task")
		}
		backup := FieldChange{Field: "backup", After: b.BackupID}
		folders := append([]*Folder(nil), b.Folders...)
		sort.Slice(folders, func(i, j int) bool { return len(folders[i].Path) < len(folders[j].Path) })
		inSet := map[string]bool{}
		for _, f := range folders {
			inSet[f.ID] = true
		}
		// The place an object returns to must be there.
		needFolder := func(id string) (*Folder, error) {
			cur := new(Folder)
			if err := c.from(deletedFoldersTable, cur).Where("folder.id = ?", id).Scan(ctx); err != nil {
				if errs.KindOf(notFound(err, "folder")) == errs.NotFound {
					return nil, errs.New(errs.Conflict, "folder %s it was in is gone: restore that folder first", id)
				}
				return nil, err
			}
			if cur.DeletedAt != nil {
				return nil, errs.New(errs.Conflict, "folder %s it was in is in the trash: undelete it first", id)
			}
			return cur, nil
		}
		for _, f := range folders {
			cur := new(Folder)
			err := c.from(deletedFoldersTable, cur).Where("folder.id = ?", f.ID).Scan(ctx)
			if errs.KindOf(notFound(err, "folder")) == errs.NotFound {
				if f.ParentID != nil && !inSet[*f.ParentID] {
					if _, err := needFolder(*f.ParentID); err != nil {
						return err
					}
				}
				back := *f
				back.DeletedAt = nil
				if _, err := c.db.NewInsert().Model(&back).Exec(ctx); err != nil {
					return fmt.Errorf("restore folder: %w", err)
				}
				res.Returned++
				if err := c.changed(ctx, ChangeRestored, &back, backup); err != nil {
					return err
				}
				continue
			}
			if err != nil {
				return err
			}
			before, after := *cur, *cur
			after.Name, after.Description, after.Restricted, after.DeletedAt = f.Name, f.Description, f.Restricted, nil
			fields := folderDiff(&before, &after)
			if before.DeletedAt != nil {
				fields = append(fields, FieldChange{Field: "deletedAt", Before: *before.DeletedAt})
			}
			if len(fields) == 0 {
				continue
			}
			after.Version, after.UpdatedAt = cur.Version+1, c.now
			if err := c.saveVersion(ctx, "FOLDER", cur.ID, companyID, cur.Version, &before); err != nil {
				return err
			}
			if _, err := c.db.NewUpdate().Model(&after).Column("name", "description", "restricted", "version", "updated_at", "deleted_at").
				Where("company_id = ? AND id = ?", companyID, cur.ID).Exec(ctx); err != nil {
				return fmt.Errorf("restore folder: %w", err)
			}
			res.Versioned++
			if err := c.changed(ctx, ChangeRestored, &after, append(fields, backup)...); err != nil {
				return err
			}
		}
		for _, d := range b.Documents {
			cur := new(Document)
			err := c.from(deletedDocumentsTable, cur).Where("document.id = ?", d.ID).Scan(ctx)
			if errs.KindOf(notFound(err, "document")) == errs.NotFound {
				folder, err := needFolder(d.FolderID)
				if err != nil {
					return err
				}
				if _, err := c.template(ctx, d.TemplateID, companyID); err != nil {
					return errs.New(errs.Conflict, "the document's template %s is gone", d.TemplateID)
				}
				back := *d
				back.DeletedAt, back.FolderPath = nil, folder.Path
				if _, err := c.db.NewInsert().Model(&back).Exec(ctx); err != nil {
					return fmt.Errorf("restore document: %w", err)
				}
				res.Returned++
				if err := c.changed(ctx, ChangeRestored, &back, backup); err != nil {
					return err
				}
				continue
			}
			if err != nil {
				return err
			}
			tmpl, err := c.template(ctx, cur.TemplateID, companyID)
			if err != nil {
				return err
			}
			before, after := *cur, *cur
			after.Title, after.Values, after.Status, after.DeletedAt = d.Title, d.Values, d.Status, nil
			fields := documentDiff(tmpl.Fields, &before, &after)
			if before.DeletedAt != nil {
				fields = append(fields, FieldChange{Field: "deletedAt", Before: *before.DeletedAt})
			}
			if len(fields) == 0 {
				continue
			}
			after.Version, after.UpdatedAt = cur.Version+1, c.now
			if err := c.saveVersion(ctx, "DOCUMENT", cur.ID, companyID, cur.Version, &before); err != nil {
				return err
			}
			if _, err := c.db.NewUpdate().Model(&after).Column("title", "status", "values", "version", "updated_at", "deleted_at").
				Where("company_id = ? AND id = ?", companyID, cur.ID).Exec(ctx); err != nil {
				return fmt.Errorf("restore document: %w", err)
			}
			res.Versioned++
			if err := c.changed(ctx, ChangeRestored, &after, append(fields, backup)...); err != nil {
				return err
			}
		}
		// Rows that are immutable once written: added back when missing, never changed. Rows
		// whose user no longer exists are left out.
		users := func(ids ...string) (bool, error) {
			n, err := c.db.NewSelect().Table("users").Where("id IN (?)", bun.In(ids)).Count(ctx)
			return int(n) == len(uniqueStrings(ids)), err
		}
		for _, cm := range b.Comments {
			if ok, err := users(cm.AuthorID); err != nil || !ok {
				if err != nil {
					return err
				}
				continue
			}
			r, err := c.db.NewInsert().Model(cm).On("CONFLICT DO NOTHING").Exec(ctx)
			if err != nil {
				return fmt.Errorf("restore comment: %w", err)
			}
			if n, _ := r.RowsAffected(); n > 0 {
				res.Comments++
			}
		}
		for _, g := range b.Grants {
			if ok, err := users(g.GranteeID); err != nil || !ok {
				if err != nil {
					return err
				}
				continue
			}
			if g.GrantedBy != nil {
				if ok, err := users(*g.GrantedBy); err != nil || !ok {
					if err != nil {
						return err
					}
					g.GrantedBy = nil
				}
			}
			r, err := c.db.NewInsert().Model(g).On("CONFLICT DO NOTHING").Exec(ctx)
			if err != nil {
				return fmt.Errorf("restore grant: %w", err)
			}
			if n, _ := r.RowsAffected(); n > 0 {
				res.Grants++
			}
		}
		for _, v := range b.Versions {
			if v.ActorID != nil {
				if ok, err := users(*v.ActorID); err != nil || !ok {
					if err != nil {
						return err
					}
					v.ActorID = nil
				}
			}
			r, err := c.db.NewInsert().Model(v).On("CONFLICT DO NOTHING").Exec(ctx)
			if err != nil {
				return fmt.Errorf("restore version: %w", err)
			}
			if n, _ := r.RowsAffected(); n > 0 {
				res.Versions++
			}
		}
		return nil
	})
	return res, err
}

func uniqueStrings(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
