// Package testdb gives tests a freshly migrated database: an SQLite file by default, or, when
// TEST_DATABASE_URL is set, a new PostgreSQL database of their own, reached through an ordinary
// role so that row-level security binds it exactly as it binds the server.
//
// Tests that need PostgreSQL skip when TEST_DATABASE_URL is not set (the embedded-store run);
// .ci/run always makes a second run with it set, where a database that cannot be reached fails
// the tests instead of skipping them, so CI cannot pass without them.
package testdb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/laatu/laatu/internal/database"
)

// AppRole is the ordinary role tests connect as on PostgreSQL: no superuser, no BYPASSRLS,
// owner of nothing.
const AppRole = "laatu_test_app"

// DB is a migrated database for one test.
type DB struct {
	// App is the server's view: on PostgreSQL the ordinary role, subject to row-level security.
	App *database.DB
	// Owner is the table owner (on SQLite the same as App), for setting up and for tampering.
	Owner *database.DB
	// Dialect is the database kind.
	Dialect database.Dialect
	// AppURL and OwnerURL are the connection URLs on PostgreSQL, empty on SQLite.
	AppURL, OwnerURL string
	// Path is the SQLite file, empty on PostgreSQL.
	Path string
}

// PostgresURL returns TEST_DATABASE_URL, or "" when the tests run on the embedded store.
func PostgresURL() string { return os.Getenv("TEST_DATABASE_URL") }

// New returns a migrated database for t: PostgreSQL when TEST_DATABASE_URL is set, else SQLite.
func New(t testing.TB) *DB {
	t.Helper()
	if u := PostgresURL(); u != "" {
		return newPostgres(t, u)
	}
	return NewSQLite(t)
}

// RequirePostgres returns a PostgreSQL database, skipping the test when none is configured.
func RequirePostgres(t testing.TB) *DB {
	t.Helper()
	u := PostgresURL()
	if u == "" {
		t.Skip("TEST_DATABASE_URL not set: PostgreSQL-only test skipped")
	}
	return newPostgres(t, u)
}

// NewSQLite returns a migrated SQLite database in a temporary directory.
func NewSQLite(t testing.TB) *DB {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "laatu.db")
	db, err := database.Open(ctx, "", path)
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if _, err := db.MigrateUp(ctx); err != nil {
		t.Fatalf("migrate sqlite: %v", err)
	}
	return &DB{App: db, Owner: db, Dialect: database.SQLite, Path: path}
}

func newPostgres(t testing.TB, base string) *DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	admin, err := database.Open(ctx, base, "")
	if err != nil {
		t.Fatalf("connect to TEST_DATABASE_URL: %v", err)
	}
	defer admin.Close()

	name := "laatu_t_" + randomHex(6)
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	// The role is cluster-wide and shared by concurrent test packages; creating it may race.
	_, _ = admin.ExecContext(ctx, "DO $$ BEGIN CREATE ROLE "+AppRole+" LOGIN NOSUPERUSER NOBYPASSRLS; "+
		"EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$")

	ownerURL := withDatabase(base, name, "")
	appURL := withDatabase(base, name, AppRole)
	owner, err := database.Open(ctx, ownerURL, "")
	if err != nil {
		t.Fatalf("open test database: %v", err)
	}
	if _, err := owner.MigrateUp(ctx); err != nil {
		t.Fatalf("migrate test database: %v", err)
	}
	if err := owner.GrantServerRole(ctx, appURL); err != nil {
		t.Fatalf("grant app role: %v", err)
	}
	app, err := database.Open(ctx, appURL, "")
	if err != nil {
		t.Fatalf("open test database as app role: %v", err)
	}
	if err := app.CheckServerRole(ctx); err != nil {
		t.Fatalf("app role: %v", err)
	}
	t.Cleanup(func() {
		_ = app.Close()
		_ = owner.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if a, err := database.Open(ctx, base, ""); err == nil {
			_, _ = a.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			_ = a.Close()
		}
	})
	return &DB{App: app, Owner: owner, Dialect: database.Postgres, AppURL: appURL, OwnerURL: ownerURL}
}

func withDatabase(base, dbname, user string) string {
	u, err := url.Parse(base)
	if err != nil {
		panic(err)
	}
	u.Path = "/" + dbname
	if user != "" {
		u.User = url.User(user)
	}
	q := u.Query()
	if q.Get("sslmode") == "" {
		q.Set("sslmode", "disable")
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
