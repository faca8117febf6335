package backup

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"filippo.io/age"
	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"github.com/laatu/laatu/internal/database"
)

// migrationTables are Bun's bookkeeping: recorded in the manifest, not restored as rows.
var migrationTables = map[string]bool{"bun_migrations": true, "bun_migration_locks": true}

// CreateOptions say what to back up and how.
type CreateOptions struct {
	// Company limits the backup to one company's rows (and the users it refers to).
	Company string
	// Recipients encrypt the archive; none writes it in the clear.
	Recipients []age.Recipient
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Create writes a backup of db to w from one consistent snapshot: on PostgreSQL one
// REPEATABLE READ, read-only transaction with row-level security off (the role must be allowed
// to bypass it, as for pg_dump: a superuser or BYPASSRLS, never the server's role); on SQLite
// one read transaction. It returns the manifest written.
func Create(ctx context.Context, db *database.DB, w io.Writer, opt CreateOptions) (*Manifest, error) {
	now := time.Now
	if opt.Now != nil {
		now = opt.Now
	}
	m := &Manifest{Format: FormatVersion, ID: uuid.Must(uuid.NewV7()).String(), LaatuVersion: LaatuVersion,
		CreatedAt: now().UTC().Truncate(time.Microsecond), Dialect: string(db.Dialect), Company: opt.Company}
	if opt.Company != "" {
		if _, err := uuid.Parse(opt.Company); err != nil {
			return nil, fmt.Errorf("backup: company %q is not an id", opt.Company)
		}
	}
	aw, err := newWriter(w, m, opt.Recipients)
	if err != nil {
		return nil, err
	}
	txOpts := &sql.TxOptions{ReadOnly: true}
	if db.Dialect == database.Postgres {
		txOpts.Isolation = sql.LevelRepeatableRead
	}
	src := db.DB
	if db.Dialect == database.SQLite {
		src = db.Reader
	}
	err = src.RunInTx(ctx, txOpts, func(ctx context.Context, tx bun.Tx) error {
		if db.Dialect == database.Postgres {
			// An error, never a silently filtered backup, when the role cannot see every row.
			if _, err := tx.ExecContext(ctx, "SET LOCAL row_security = off"); err != nil {
				return fmt.Errorf("backup: %w", err)
			}
		}
		if err := tx.NewRaw("SELECT name FROM bun_migrations ORDER BY name").Scan(ctx, &m.Migrations); err != nil {
			return fmt.Errorf("backup: read migrations: %w", err)
		}
		tables, err := listTables(ctx, tx, db.Dialect)
		if err != nil {
			return err
		}
		for _, t := range tables {
			if err := dumpTable(ctx, tx, aw, t, opt.Company); err != nil {
				return fmt.Errorf("backup: table %s: %w", t, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := aw.close(); err != nil {
		return nil, err
	}
	return m, nil
}

// listTables returns the data tables of the database, sorted.
func listTables(ctx context.Context, db bun.IDB, d database.Dialect) ([]string, error) {
	var names []string
	q := "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
	if d == database.Postgres {
		q = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
	}
	if err := db.NewRaw(q).Scan(ctx, &names); err != nil {
		return nil, fmt.Errorf("backup: list tables: %w", err)
	}
	out := names[:0]
	for _, n := range names {
		if !migrationTables[n] {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out, nil
}

// companyFilter is the WHERE clause that keeps one company's rows of a table, or "" to leave
// the table out of a company's backup. Users are kept when the company refers to them.
func companyFilter(table string, cols []Column) (string, bool) {
	has := map[string]bool{}
	for _, c := range cols {
		has[c.Name] = true
	}
	switch {
	case table == "companies":
		return "id = ?", true
	case table == "users":
		return "id IN (SELECT user_id FROM memberships WHERE company_id = ? UNION SELECT grantee_id FROM grants WHERE company_id = ?" +
			" UNION SELECT owner_id FROM folders WHERE company_id = ? UNION SELECT owner_id FROM documents WHERE company_id = ?" +
			" UNION SELECT author_id FROM comments WHERE company_id = ? UNION SELECT granted_by FROM grants WHERE company_id = ?" +
			" UNION SELECT invited_by FROM invitations WHERE company_id = ? UNION SELECT actor_id FROM object_versions WHERE company_id = ?)", true
	case has["company_id"]:
		return "company_id = ?", true
	}
	return "", false
}

func dumpTable(ctx context.Context, tx bun.Tx, aw *writer, table, company string) error {
	cols, err := tableColumns(ctx, tx, table)
	if err != nil {
		return err
	}
	q := "SELECT * FROM " + quoteIdent(table)
	var args []any
	if company != "" {
		where, ok := companyFilter(table, cols)
		if !ok {
			return nil
		}
		q += " WHERE " + where
		for i := 0; i < strings.Count(where, "?"); i++ {
			args = append(args, company)
		}
	}
	q += " ORDER BY " + orderColumns(cols)
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	var buf bytes.Buffer
	n := 0
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		row := make(map[string]any, len(cols))
		for i, c := range cols {
			v, err := portable(c.Type, vals[i])
			if err != nil {
				return fmt.Errorf("column %s: %w", c.Name, err)
			}
			row[c.Name] = v
		}
		b, err := json.Marshal(row)
		if err != nil {
			return err
		}
		buf.Write(b)
		buf.WriteByte('\n')
		n++
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return aw.table(table, cols, n, buf.Bytes())
}

// orderColumns orders a dump by its first columns, so that the same data makes the same
// archive entries.
func orderColumns(cols []Column) string {
	var out []string
	for _, c := range cols {
		if c.Type != "json" && c.Type != "bytes" {
			out = append(out, quoteIdent(c.Name))
		}
		if len(out) == 3 {
			break
		}
	}
	if len(out) == 0 {
		return "1"
	}
	return strings.Join(out, ", ")
}

// tableColumns reads a table's columns and their portable types from the database.
func tableColumns(ctx context.Context, db bun.IDB, table string) ([]Column, error) {
	rows, err := db.QueryContext(ctx, "SELECT * FROM "+quoteIdent(table)+" LIMIT 0")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	types, err := rows.ColumnTypes()
	if err != nil {
		return nil, err
	}
	cols := make([]Column, len(types))
	for i, t := range types {
		cols[i] = Column{Name: t.Name(), Type: portableType(t.DatabaseTypeName())}
	}
	return cols, rows.Err()
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// RestoreOptions say how to restore.
type RestoreOptions struct {
	// Force replaces the data of a database that is not empty; Replaced is told what.
	Force    bool
	Replaced func(table string, rows int)
}

// ErrNotEmpty is returned when a restore finds data in the target and is not forced.
var ErrNotEmpty = errors.New("backup: the database is not empty; restore into an empty one, or pass --force to replace its data")

// Restore writes a whole-system archive into db, which must be migrated and, unless forced,
// empty. It runs in one transaction: on any error nothing is written. On PostgreSQL the role
// must be allowed to bypass row-level security (the table owner as superuser or BYPASSRLS).
func Restore(ctx context.Context, db *database.DB, a *Archive, opt RestoreOptions) error {
	if a.Manifest.Company != "" {
		return fmt.Errorf("backup: this archive holds company %s only; restore single objects from it with restore-object", a.Manifest.Company)
	}
	return restore(ctx, db, a, opt)
}

func restore(ctx context.Context, db *database.DB, a *Archive, opt RestoreOptions) error {
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if db.Dialect == database.Postgres {
			if _, err := tx.ExecContext(ctx, "SET LOCAL row_security = off"); err != nil {
				return fmt.Errorf("backup: %w", err)
			}
		} else if _, err := tx.ExecContext(ctx, "PRAGMA defer_foreign_keys = ON"); err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		var applied []string
		if err := tx.NewRaw("SELECT name FROM bun_migrations").Scan(ctx, &applied); err != nil {
			return fmt.Errorf("backup: read the target's migrations (run laatu migrate up first): %w", err)
		}
		// Both dialects number their migrations alike (PostgreSQL has some SQLite lacks), so the
		// newest version says which schema the rows fit.
		if newest(a.Manifest.Migrations) > newest(applied) {
			return fmt.Errorf("%w: it was taken at schema version %s, newer than this database's %s; migrate it up with a Laatu at least as new as the backup's first",
				ErrFormat, newest(a.Manifest.Migrations), newest(applied))
		}
		tables, err := listTables(ctx, tx, db.Dialect)
		if err != nil {
			return err
		}
		known := map[string]bool{}
		for _, t := range tables {
			known[t] = true
		}
		for _, e := range a.Manifest.Entries {
			if !known[e.Table] {
				return fmt.Errorf("%w: table %s is not in this database's schema", ErrFormat, e.Table)
			}
		}
		order, err := insertOrder(ctx, tx, db.Dialect, tables)
		if err != nil {
			return err
		}
		var nonEmpty []string
		for _, t := range tables {
			var n int
			if err := tx.NewRaw("SELECT count(*) FROM "+quoteIdent(t)).Scan(ctx, &n); err != nil {
				return fmt.Errorf("backup: count %s: %w", t, err)
			}
			if n > 0 {
				nonEmpty = append(nonEmpty, t)
				if opt.Replaced != nil {
					opt.Replaced(t, n)
				}
			}
		}
		if len(nonEmpty) > 0 {
			if !opt.Force {
				return fmt.Errorf("%w (tables with rows: %s)", ErrNotEmpty, strings.Join(nonEmpty, ", "))
			}
			if err := wipe(ctx, tx, db.Dialect, order); err != nil {
				return err
			}
		}
		for _, t := range order {
			if _, ok := a.Entry(t); !ok {
				continue
			}
			if err := loadTable(ctx, tx, db.Dialect, a, t); err != nil {
				return fmt.Errorf("backup: restore %s: %w", t, err)
			}
		}
		return nil
	})
}

func newest(versions []string) string {
	n := ""
	for _, v := range versions {
		if v > n {
			n = v
		}
	}
	return n
}

// wipe empties every table, children first.
func wipe(ctx context.Context, tx bun.Tx, d database.Dialect, order []string) error {
	if d == database.Postgres {
		quoted := make([]string, len(order))
		for i, t := range order {
			quoted[i] = quoteIdent(t)
		}
		_, err := tx.ExecContext(ctx, "TRUNCATE "+strings.Join(quoted, ", "))
		return err
	}
	// SQLite guards append-only tables (the audit log) with triggers: they are set aside for
	// the wipe and put back as they were, within the transaction.
	var triggers []struct{ Name, SQL string }
	if err := tx.NewRaw("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'").Scan(ctx, &triggers); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("backup: list triggers: %w", err)
	}
	for _, tr := range triggers {
		if _, err := tx.ExecContext(ctx, "DROP TRIGGER "+quoteIdent(tr.Name)); err != nil {
			return fmt.Errorf("backup: set trigger %s aside: %w", tr.Name, err)
		}
	}
	for i := len(order) - 1; i >= 0; i-- {
		if _, err := tx.ExecContext(ctx, "DELETE FROM "+quoteIdent(order[i])); err != nil {
			return fmt.Errorf("backup: empty %s: %w", order[i], err)
		}
	}
	for _, tr := range triggers {
		if _, err := tx.ExecContext(ctx, tr.SQL); err != nil {
			return fmt.Errorf("backup: restore trigger %s: %w", tr.Name, err)
		}
	}
	return nil
}

// insertOrder sorts tables so that every table comes after the tables its foreign keys name.
func insertOrder(ctx context.Context, tx bun.Tx, d database.Dialect, tables []string) ([]string, error) {
	deps := map[string]map[string]bool{}
	for _, t := range tables {
		deps[t] = map[string]bool{}
		var parents []string
		var err error
		if d == database.Postgres {
			err = tx.NewRaw("SELECT DISTINCT confrelid::regclass::text FROM pg_constraint WHERE contype = 'f' AND conrelid = ?::regclass", t).Scan(ctx, &parents)
		} else {
			err = tx.NewRaw("SELECT DISTINCT \"table\" FROM pragma_foreign_key_list(?)", t).Scan(ctx, &parents)
		}
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("backup: foreign keys of %s: %w", t, err)
		}
		for _, p := range parents {
			p = strings.Trim(p, `"`)
			if p != t {
				deps[t][p] = true
			}
		}
	}
	var out []string
	done := map[string]bool{}
	for len(out) < len(tables) {
		progressed := false
		for _, t := range tables {
			if done[t] {
				continue
			}
			ready := true
			for p := range deps[t] {
				if !done[p] && deps[p] != nil {
					ready = false
				}
			}
			if ready {
				out = append(out, t)
				done[t] = true
				progressed = true
			}
		}
		if !progressed {
			return nil, errors.New("backup: the foreign keys between tables form a cycle")
		}
	}
	return out, nil
}

// loadTable inserts an archive table's rows. Rows that refer to rows of the same table not yet
// inserted (a folder before its parent) wait for a later pass; on PostgreSQL each try runs in a
// savepoint, on SQLite foreign keys are checked at commit.
func loadTable(ctx context.Context, tx bun.Tx, d database.Dialect, a *Archive, table string) error {
	rows, err := a.Table(table)
	if err != nil {
		return err
	}
	target, err := tableColumns(ctx, tx, table)
	if err != nil {
		return err
	}
	types := map[string]string{}
	for _, c := range target {
		types[c.Name] = c.Type
	}
	from := map[string]string{}
	e, _ := a.Entry(table)
	for _, c := range e.Columns {
		from[c.Name] = c.Type
	}
	values := make([]map[string]any, len(rows))
	for i, row := range rows {
		m := make(map[string]any, len(row))
		for col, raw := range row {
			typ, ok := types[col]
			if !ok {
				return fmt.Errorf("%w: column %s.%s is not in this database's schema", ErrFormat, table, col)
			}
			v, err := native(typ, from[col], raw)
			if err != nil {
				return fmt.Errorf("%w: row %d, column %s: %v", ErrFormat, i+1, col, err)
			}
			m[col] = v
		}
		values[i] = m
	}
	insert := func(db bun.IDB, m map[string]any) error {
		_, err := db.NewInsert().Model(&m).TableExpr(quoteIdent(table)).Exec(ctx)
		return err
	}
	if d != database.Postgres {
		for _, m := range values {
			if err := insert(tx, m); err != nil {
				return err
			}
		}
		return nil
	}
	// Usually the rows come in an order that satisfies the keys (ids are time-ordered, so a
	// parent folder sorts before its children): one savepoint for the whole table.
	err = tx.RunInTx(ctx, nil, func(ctx context.Context, sp bun.Tx) error {
		for _, m := range values {
			if err := insert(sp, m); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		return nil
	}
	pending := values
	for len(pending) > 0 {
		var later []map[string]any
		var lastErr error
		for _, m := range pending {
			err := tx.RunInTx(ctx, nil, func(ctx context.Context, sp bun.Tx) error { return insert(sp, m) })
			if err != nil {
				later, lastErr = append(later, m), err
			}
		}
		if len(later) == len(pending) {
			return lastErr
		}
		pending = later
	}
	return nil
}
