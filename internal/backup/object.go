package backup

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"github.com/laatu/laatu/internal/access"
	"github.com/laatu/laatu/internal/database"
	"github.com/laatu/laatu/internal/storage"
)

// ErrNoObject is returned when the archive holds no such object of the company.
var ErrNoObject = errors.New("backup: the archive holds no folder or document with that id in that company")

// scratch restores an archive into a new SQLite database in a temporary directory, where its
// rows can be read with the storage models; done removes it.
func scratch(ctx context.Context, a *Archive) (db *database.DB, done func(), err error) {
	dir, err := os.MkdirTemp("", "laatu-backup-")
	if err != nil {
		return nil, nil, fmt.Errorf("backup: %w", err)
	}
	cleanup := func() { _ = os.RemoveAll(dir) }
	db, err = database.Open(ctx, "", filepath.Join(dir, "scratch.db"))
	if err != nil {
		cleanup()
		return nil, nil, fmt.Errorf("backup: %w", err)
	}
	done = func() { _ = db.Close(); cleanup() }
	if _, err := db.MigrateUp(ctx); err != nil {
		done()
		return nil, nil, fmt.Errorf("backup: %w", err)
	}
	if err := restore(ctx, db, a, RestoreOptions{}); err != nil {
		done()
		return nil, nil, fmt.Errorf("backup: the archive does not restore: %w", err)
	}
	return db, done, nil
}

// Objects reads one document, or one folder with everything below it, of a company out of an
// archive, with their comments, grants and saved versions.
func Objects(ctx context.Context, a *Archive, company, object string) (storage.BackupObjects, error) {
	out := storage.BackupObjects{BackupID: a.Manifest.ID}
	if _, err := uuid.Parse(company); err != nil {
		return out, fmt.Errorf("backup: company %q is not an id", company)
	}
	if _, err := uuid.Parse(object); err != nil {
		return out, fmt.Errorf("backup: object %q is not an id", object)
	}
	if a.Manifest.Company != "" && a.Manifest.Company != company {
		return out, fmt.Errorf("backup: this archive holds company %s only", a.Manifest.Company)
	}
	db, done, err := scratch(ctx, a)
	if err != nil {
		return out, err
	}
	defer done()
	root := new(storage.Folder)
	err = db.NewSelect().Model(root).Where("company_id = ? AND id = ?", company, object).Scan(ctx)
	switch {
	case err == nil:
		if err := db.NewSelect().Model(&out.Folders).Where("company_id = ? AND path LIKE ?", company, root.Path+"%").Scan(ctx); err != nil {
			return out, err
		}
		if err := db.NewSelect().Model(&out.Documents).Where("company_id = ? AND folder_path LIKE ?", company, root.Path+"%").Scan(ctx); err != nil {
			return out, err
		}
	case errors.Is(err, sql.ErrNoRows):
		if err := db.NewSelect().Model(&out.Documents).Where("company_id = ? AND id = ?", company, object).Scan(ctx); err != nil {
			return out, err
		}
		if len(out.Documents) == 0 {
			return out, ErrNoObject
		}
	default:
		return out, err
	}
	var docs, all []string
	for _, d := range out.Documents {
		docs = append(docs, d.ID)
	}
	all = append(all, docs...)
	var folders []string
	for _, f := range out.Folders {
		folders = append(folders, f.ID)
	}
	all = append(all, folders...)
	if len(docs) > 0 {
		if err := db.NewSelect().Model(&out.Comments).Where("company_id = ? AND document_id IN (?)", company, bun.In(docs)).Scan(ctx); err != nil {
			return out, err
		}
	}
	if err := db.NewSelect().Model(&out.Grants).Where("company_id = ?", company).
		WhereGroup(" AND ", func(q *bun.SelectQuery) *bun.SelectQuery {
			return q.Where("document_id IN (?)", bun.In(append(docs, ""))).WhereOr("folder_id IN (?)", bun.In(append(folders, "")))
		}).Scan(ctx); err != nil {
		return out, err
	}
	if err := db.NewSelect().Model(&out.Versions).Where("company_id = ? AND object_id IN (?)", company, bun.In(all)).Scan(ctx); err != nil {
		return out, err
	}
	return out, nil
}

// RestoreObject brings one document, or one folder with everything below it, back from an
// archive into the live store (see storage.Store.RestoreFromBackup), as the system.
func RestoreObject(ctx context.Context, store *storage.Store, a *Archive, company, object string) (storage.RestoreResult, error) {
	objs, err := Objects(ctx, a, company, object)
	if err != nil {
		return storage.RestoreResult{}, err
	}
	return store.RestoreFromBackup(access.AsSystem(ctx, company), company, objs)
}
