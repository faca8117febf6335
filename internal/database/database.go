// Package database opens Laatu's store — PostgreSQL through lib/pq, or the embedded SQLite file
// through the pure-Go modernc.org/sqlite driver — and manages its schema.
package database

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	_ "github.com/lib/pq" // PostgreSQL driver, registered as "postgres"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
	"github.com/uptrace/bun/dialect/sqlitedialect"
	_ "modernc.org/sqlite" // SQLite driver, registered as "sqlite"
)

// Dialect names the database kind, and the migration folder of its schema.
type Dialect string

// The two stores.
const (
	Postgres Dialect = "postgres"
	SQLite   Dialect = "sqlite"
)

// DB is an open store.
type DB struct {
	// DB runs writes. On SQLite its transactions begin IMMEDIATE, so writers queue on the
	// busy timeout instead of failing when they upgrade from reading to writing.
	*bun.DB
	// Reader runs read-only transactions. On PostgreSQL it is the same pool as DB; on SQLite a
	// second pool whose deferred transactions read beside the writer (WAL).
	Reader  *bun.DB
	Dialect Dialect
	// hooks are the query hooks added through AddQueryHook, for the statements run past Bun.
	hooks atomic.Pointer[[]bun.QueryHook]
}

// AddQueryHook adds hook to both pools, and to the statements the store runs past Bun (its
// prepared reads, internal/storage/prepared.go), so that the hook sees every statement. Add
// hooks before serving, as with Bun's own.
func (db *DB) AddQueryHook(hook bun.QueryHook) {
	//lint:ignore SA1019 the hook must see the pools themselves; WithQueryHook returns copies
	db.DB.AddQueryHook(hook)
	if db.Reader != db.DB {
		//lint:ignore SA1019 as above
		db.Reader.AddQueryHook(hook)
	}
	var hooks []bun.QueryHook
	if old := db.hooks.Load(); old != nil {
		hooks = append(hooks, *old...)
	}
	hooks = append(hooks, hook)
	db.hooks.Store(&hooks)
}

// Observe runs a statement that does not go through Bun (query with args, run by run) between
// the query hooks' BeforeQuery and AfterQuery, as Bun runs its own.
func (db *DB) Observe(ctx context.Context, query string, args []any, run func(ctx context.Context) error) error {
	hooks := db.hooks.Load()
	if hooks == nil {
		return run(ctx)
	}
	ev := &bun.QueryEvent{DB: db.DB, Query: query, QueryArgs: args, StartTime: time.Now()}
	for _, h := range *hooks {
		ctx = h.BeforeQuery(ctx, ev)
	}
	err := run(ctx)
	ev.Err = err
	for i := len(*hooks) - 1; i >= 0; i-- {
		(*hooks)[i].AfterQuery(ctx, ev)
	}
	return err
}

// Close closes both pools.
func (db *DB) Close() error {
	if db.Reader != db.DB {
		_ = db.Reader.Close()
	}
	return db.DB.Close()
}

// Open connects to PostgreSQL when url is set, otherwise to the SQLite file at sqlitePath,
// creating its directory on first start. It checks the connection before returning.
func Open(ctx context.Context, url, sqlitePath string) (*DB, error) {
	if url != "" {
		return openPostgres(ctx, url)
	}
	return openSQLite(ctx, sqlitePath)
}

func openPostgres(ctx context.Context, dsn string) (*DB, error) {
	conn, err := newConnector(dsn)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	// Connections that the server closes itself when the database does not answer a request
	// stopped by its deadline (see AbandonAfter).
	sqldb := sql.OpenDB(conn)
	// Every connection stays open once made: a fresh PostgreSQL backend plans its first
	// statements slowly (its catalog caches are cold), so closing idle connections between
	// bursts of load costs far more than keeping 20 backends.
	sqldb.SetMaxOpenConns(20)
	sqldb.SetMaxIdleConns(20)
	sqldb.SetConnMaxIdleTime(5 * time.Minute)
	bdb := bun.NewDB(sqldb, pgdialect.New())
	db := &DB{DB: bdb, Reader: bdb, Dialect: Postgres}
	if err := ping(ctx, db); err != nil {
		return nil, fmt.Errorf("connect to postgres at %s: %w", Redact(dsn), err)
	}
	return db, nil
}

func openSQLite(ctx context.Context, path string) (*DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	// WAL lets readers run beside the one writer; the busy timeout makes a second writer wait
	// instead of failing; foreign keys are off by default in SQLite.
	dsn := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)" +
		"&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)"
	writer, err := sql.Open("sqlite", dsn+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	writer.SetMaxOpenConns(4)
	reader, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	reader.SetMaxOpenConns(8)
	db := &DB{DB: bun.NewDB(writer, sqlitedialect.New()), Reader: bun.NewDB(reader, sqlitedialect.New()), Dialect: SQLite}
	if err := ping(ctx, db); err != nil {
		return nil, fmt.Errorf("open sqlite at %s: %w", path, err)
	}
	return db, nil
}

func ping(ctx context.Context, db *DB) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return err
	}
	return nil
}

// Redact removes the password from a database URL so it can be logged.
func Redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(unparsable database URL)"
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "redacted")
	}
	return u.String()
}

// ErrUnsafeRole is returned by CheckServerRole when the server's role could bypass row-level security.
var ErrUnsafeRole = errors.New("unsafe database role")

// CheckServerRole refuses a PostgreSQL role that row-level security would not bind: a superuser,
// a role with BYPASSRLS, or the owner of the tables (FORCE binds owners too, but an owner can
// switch it off). Migrations run as the owner (DATABASE_ADMIN_URL); the server must not.
func (db *DB) CheckServerRole(ctx context.Context) error {
	if db.Dialect != Postgres {
		return nil
	}
	var role struct {
		Name      string `bun:"rolname"`
		Super     bool   `bun:"rolsuper"`
		BypassRLS bool   `bun:"rolbypassrls"`
		Owned     int    `bun:"owned"`
	}
	err := db.NewRaw(`SELECT r.rolname, r.rolsuper, r.rolbypassrls,
		(SELECT count(*) FROM pg_tables t WHERE t.schemaname = current_schema() AND t.tableowner = current_user) AS owned
		FROM pg_roles r WHERE r.rolname = current_user`).Scan(ctx, &role)
	if err != nil {
		return fmt.Errorf("check database role: %w", err)
	}
	var why []string
	if role.Super {
		why = append(why, "is a superuser")
	}
	if role.BypassRLS {
		why = append(why, "has BYPASSRLS")
	}
	if role.Owned > 0 {
		why = append(why, fmt.Sprintf("owns %d tables", role.Owned))
	}
	if len(why) > 0 {
		return fmt.Errorf("%w: role %q %s; the server must connect as an ordinary role "+
			"(see README, 'PostgreSQL'), with the owner in DATABASE_ADMIN_URL for migrations",
			ErrUnsafeRole, role.Name, strings.Join(why, " and "))
	}
	return nil
}
