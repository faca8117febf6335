package cli

import (
	"context"
	"fmt"

	"github.com/rs/zerolog"

	"github.com/laatu/laatu/internal/config"
	"github.com/laatu/laatu/internal/database"
)

// openServer opens the server's connection (DATABASE_URL, or the embedded file in --data-dir)
// and refuses a PostgreSQL role that could bypass row-level security.
func openServer(ctx context.Context, cfg config.Config) (*database.DB, error) {
	limits := database.SessionLimits{StatementTimeout: cfg.DBStatementTimeout, LockTimeout: cfg.DBLockTimeout,
		IdleInTransactionTimeout: cfg.DBIdleInTransactionTimeout}
	db, err := database.Open(ctx, database.WithSessionLimits(cfg.DatabaseURL, limits), cfg.SQLitePath())
	if err != nil {
		return nil, err
	}
	if err := db.CheckServerRole(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// openOwner opens the tables' owner: DATABASE_ADMIN_URL on PostgreSQL, the file on the
// embedded store. what names the work that needs it, for the error when no owner is set.
func openOwner(ctx context.Context, cfg config.Config, what string) (*database.DB, error) {
	if cfg.DatabaseURL == "" {
		return database.Open(ctx, "", cfg.SQLitePath())
	}
	if cfg.AdminDatabaseURL == "" {
		return nil, errNoOwner(what)
	}
	return database.Open(ctx, cfg.AdminDatabaseURL, "")
}

// errNoOwner explains a missing DATABASE_ADMIN_URL: the server's role may not change the
// schema, so trying would only end in "permission denied for schema public".
func errNoOwner(what string) error {
	return fmt.Errorf("%s needs the tables' owner on PostgreSQL: set DATABASE_ADMIN_URL (or --admin-database-url) "+
		"to the owner's URL; DATABASE_URL is the server's role, which may not change the schema", what)
}

// migrateUp applies the pending migrations as the owner and grants the server's role what it
// needs, logging each migration applied.
func migrateUp(ctx context.Context, cfg config.Config, log zerolog.Logger, what string) ([]string, error) {
	owner, err := openOwner(ctx, cfg, what)
	if err != nil {
		return nil, err
	}
	defer owner.Close()
	applied, err := owner.MigrateUp(ctx)
	if err != nil {
		return nil, err
	}
	for _, m := range applied {
		log.Info().Str("migration", m).Msg("applied")
	}
	return applied, owner.GrantServerRole(ctx, cfg.DatabaseURL)
}
