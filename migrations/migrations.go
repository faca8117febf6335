// Package migrations holds the database schema as embedded SQL, one set per dialect.
//
// Files are named <timestamp>_<name>.tx.up.sql so that Bun's migrator runs each in a
// transaction: a failed migration leaves nothing behind and is not marked applied.
// A migration is never edited after it has landed; change the schema with a new one, in
// both folders, and the dialect test in internal/database keeps the two sets in step.
package migrations

import (
	"embed"
	"fmt"
	"io/fs"

	"github.com/uptrace/bun/migrate"
)

//go:embed postgres/*.sql sqlite/*.sql
var files embed.FS

// For returns the migrations of a dialect: "postgres" or "sqlite".
func For(dialect string) (*migrate.Migrations, error) {
	sub, err := fs.Sub(files, dialect)
	if err != nil {
		return nil, fmt.Errorf("migrations for %s: %w", dialect, err)
	}
	m := migrate.NewMigrations()
	if err := m.Discover(sub); err != nil {
		return nil, fmt.Errorf("migrations for %s: %w", dialect, err)
	}
	return m, nil
}

// AppendOnly names the tables on which the server's role may only insert and read (the audit
// log): it holds no UPDATE, DELETE or TRUNCATE privilege there.
func AppendOnly() []string { return []string{"audit_events", "audit_checkpoints"} }
