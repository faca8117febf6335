package database

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/migrate"

	"github.com/laatu/laatu/migrations"
)

func (db *DB) migrator() (*migrate.Migrator, error) {
	m, err := migrations.For(string(db.Dialect))
	if err != nil {
		return nil, err
	}
	return migrate.NewMigrator(db.DB, m, migrate.WithMarkAppliedOnSuccess(true)), nil
}

// MigrateUp applies every pending migration, each in its own transaction, under the
// migrator's lock so that two starting servers do not race.
func (db *DB) MigrateUp(ctx context.Context) (applied []string, err error) {
	return db.locked(ctx, "migrate up", (*migrate.Migrator).Migrate)
}

// MigrateDown rolls back applied migrations, newest first, each in its own transaction: only
// the newest when to is "", else every one whose version sorts after to ("0": all of them).
// It stops at the first failure and names what it rolled back until then.
func (db *DB) MigrateDown(ctx context.Context, to string) (rolledBack []string, err error) {
	return db.locked(ctx, "migrate down", func(m *migrate.Migrator, ctx context.Context, _ ...migrate.MigrationOption) (*migrate.MigrationGroup, error) {
		ms, err := m.MigrationsWithStatus(ctx)
		if err != nil {
			return nil, err
		}
		done := new(migrate.MigrationGroup)
		for _, mig := range ms.Applied() { // newest first
			if to != "" && mig.Name <= to {
				break
			}
			if mig.Down != nil {
				if err := mig.Down(ctx, m, &mig); err != nil {
					return done, fmt.Errorf("%s: down: %w", mig.Name, err)
				}
			}
			if err := m.MarkUnapplied(ctx, &mig); err != nil {
				return done, err
			}
			done.Migrations = append(done.Migrations, mig)
			if to == "" {
				break
			}
		}
		return done, nil
	})
}

// locked runs step under the migrator's lock and names the migrations it moved.
func (db *DB) locked(ctx context.Context, what string,
	step func(*migrate.Migrator, context.Context, ...migrate.MigrationOption) (*migrate.MigrationGroup, error)) ([]string, error) {
	m, err := db.migrator()
	if err != nil {
		return nil, err
	}
	if err := m.Init(ctx); err != nil {
		return nil, fmt.Errorf("init migrations: %w", err)
	}
	if err := m.Lock(ctx); err != nil {
		return nil, fmt.Errorf("lock migrations: %w", err)
	}
	defer func() { _ = m.Unlock(ctx) }()
	group, err := step(m, ctx)
	var names []string
	if group != nil {
		for _, mig := range group.Migrations {
			names = append(names, mig.Name+"_"+mig.Comment)
		}
	}
	if err != nil {
		return names, fmt.Errorf("%s: %w", what, err)
	}
	return names, nil
}

// MigrateStatus writes one line per migration: applied or pending.
func (db *DB) MigrateStatus(ctx context.Context, w io.Writer) error {
	m, err := db.migrator()
	if err != nil {
		return err
	}
	if err := m.Init(ctx); err != nil {
		return fmt.Errorf("init migrations: %w", err)
	}
	ms, err := m.MigrationsWithStatus(ctx)
	if err != nil {
		return fmt.Errorf("migration status: %w", err)
	}
	for _, mig := range ms {
		state := "pending"
		if mig.IsApplied() {
			state = "applied (group " + fmt.Sprint(mig.GroupID) + ")"
		}
		fmt.Fprintf(w, "%s_%s\t%s\n", mig.Name, mig.Comment, state)
	}
	return nil
}

// GrantServerRole gives the server's role (the user of serverURL) what it needs and no more:
// read and write on the domain tables, insert-only on the audit log, nothing on the migration
// bookkeeping. It runs as the owner after migrations and is idempotent.
func (db *DB) GrantServerRole(ctx context.Context, serverURL string) error {
	if db.Dialect != Postgres || serverURL == "" {
		return nil
	}
	u, err := url.Parse(serverURL)
	if err != nil || u.User == nil || u.User.Username() == "" {
		return fmt.Errorf("DATABASE_URL must name the server's role")
	}
	role := u.User.Username()
	var owner string
	if err := db.NewRaw("SELECT current_user").Scan(ctx, &owner); err != nil {
		return fmt.Errorf("grant server role: %w", err)
	}
	if owner == role {
		return nil // CheckServerRole will refuse this configuration with a clear message
	}
	stmts := []string{
		"GRANT USAGE ON SCHEMA public TO ?",
		"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ?",
		"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO ?",
		"REVOKE ALL ON bun_migrations, bun_migration_locks FROM ?",
	}
	for _, table := range migrations.AppendOnly() {
		stmts = append(stmts, "REVOKE UPDATE, DELETE, TRUNCATE ON "+string(pgIdent(table))+" FROM ?")
	}
	for _, s := range stmts {
		if _, err := db.ExecContext(ctx, s, bun.Ident(role)); err != nil {
			return fmt.Errorf("grant server role %q: %w", role, err)
		}
	}
	return nil
}

// pgIdent quotes a PostgreSQL identifier.
func pgIdent(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }
