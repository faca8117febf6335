package database_test

// Row-level security, the second wall between companies, checked on PostgreSQL itself: the
// catalog says every tenant table is bound (ENABLE and FORCE), the server's role sees nothing
// without a company setting, the setting lives no longer than its transaction even on a pool of
// one connection, and the server refuses a role that row-level security would not bind.

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"

	"github.com/laatu/laatu/internal/access"
	"github.com/laatu/laatu/internal/auth/password"
	"github.com/laatu/laatu/internal/database"
	"github.com/laatu/laatu/internal/seed"
	"github.com/laatu/laatu/internal/storage"
	"github.com/laatu/laatu/internal/testdb"
)

// rlsTenantTables lists the tables of the current schema that hold a company's rows: those with
// a company_id column, and companies itself.
func rlsTenantTables(t *testing.T, db *database.DB) []string {
	t.Helper()
	var tables []string
	err := db.NewRaw(`SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
		  AND (c.relname = 'companies' OR EXISTS (SELECT 1 FROM pg_attribute a
		       WHERE a.attrelid = c.oid AND a.attname = 'company_id' AND NOT a.attisdropped))
		ORDER BY c.relname`).Scan(context.Background(), &tables)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"companies", "memberships", "folders", "documents", "comments", "grants", "document_templates"} {
		if !slices.Contains(tables, want) {
			t.Fatalf("tenant tables %v lack %s: the catalog query is wrong", tables, want)
		}
	}
	return tables
}

// rlsSeeded returns a PostgreSQL test database with the demo data, made through the server's role.
func rlsSeeded(t *testing.T) (*testdb.DB, seed.Result) {
	t.Helper()
	db := testdb.RequirePostgres(t)
	hasher, err := password.NewHasher(password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 2)
	if err != nil {
		t.Fatal(err)
	}
	demo, err := seed.Demo(context.Background(), storage.New(db.App), hasher)
	if err != nil {
		t.Fatal(err)
	}
	return db, demo
}

func TestRLSEnabledAndForcedOnEveryTenantTable(t *testing.T) {
	db := testdb.RequirePostgres(t)
	ctx := context.Background()
	for _, table := range rlsTenantTables(t, db.Owner) {
		var flags struct {
			Enabled bool `bun:"relrowsecurity"`
			Forced  bool `bun:"relforcerowsecurity"`
			// Policies counts the policies that bind roles other than the owner.
			Policies int `bun:"policies"`
		}
		err := db.Owner.NewRaw(`SELECT c.relrowsecurity, c.relforcerowsecurity,
			(SELECT count(*) FROM pg_policies p WHERE p.schemaname = current_schema() AND p.tablename = c.relname
			   AND p.roles = '{public}') AS policies
			FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
			WHERE n.nspname = current_schema() AND c.relname = ?`, table).Scan(ctx, &flags)
		if err != nil {
			t.Fatal(err)
		}
		if !flags.Enabled || !flags.Forced {
			t.Errorf("%s: row-level security enabled %v, forced %v; want both", table, flags.Enabled, flags.Forced)
		}
		if flags.Policies == 0 {
			t.Errorf("%s: no policy for the server's role", table)
		}
	}
}

// TestRLSSettingsReadOncePerStatement checks that the policies read the tenant settings through
// a sub-select, which PostgreSQL evaluates once per statement rather than once per row.
func TestRLSSettingsReadOncePerStatement(t *testing.T) {
	db := testdb.RequirePostgres(t)
	var policies []struct {
		Table string         `bun:"tablename"`
		Name  string         `bun:"policyname"`
		Qual  sql.NullString `bun:"qual"`
		Check sql.NullString `bun:"with_check"`
	}
	if err := db.Owner.NewRaw(`SELECT tablename, policyname, qual, with_check FROM pg_policies
		WHERE schemaname = current_schema()`).Scan(context.Background(), &policies); err != nil {
		t.Fatal(err)
	}
	subSelects := 0
	for _, p := range policies {
		for _, expr := range []string{p.Qual.String, p.Check.String} {
			subSelects += strings.Count(expr, "SELECT app_company_id()")
			if strings.Contains(expr, "current_setting") {
				t.Errorf("%s.%s reads current_setting directly; use app_company_id()/app_user_id() in a sub-select", p.Table, p.Name)
			}
			for _, fn := range []string{"app_company_id()", "app_user_id()"} {
				if strings.Count(expr, fn) != strings.Count(expr, "SELECT "+fn) {
					t.Errorf("%s.%s calls %s outside a sub-select: %s", p.Table, p.Name, fn, expr)
				}
			}
		}
	}
	if subSelects == 0 {
		t.Error("no policy reads app_company_id(): the check above proved nothing")
	}
}

// rlsCount counts the rows of table that q (a connection or transaction) sees.
func rlsCount(t *testing.T, q bun.IDB, table string, where string, args ...any) int {
	t.Helper()
	query := "SELECT count(*) FROM " + table
	if where != "" {
		query += " WHERE " + where
	}
	var n int
	if err := q.NewRaw(query, args...).Scan(context.Background(), &n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func TestRLSNoSettingMeansNoRows(t *testing.T) {
	db, _ := rlsSeeded(t)
	ctx := context.Background()
	tables := rlsTenantTables(t, db.Owner)
	for _, table := range []string{"companies", "memberships", "folders", "documents", "comments", "grants", "document_templates"} {
		if rlsCount(t, db.Owner.DB, table, "") == 0 {
			t.Fatalf("%s is empty: the test would prove nothing", table)
		}
	}
	for _, setting := range []struct {
		name string
		sql  string
	}{
		{"never set", ""},
		{"set empty", "SELECT set_config('app.company_id', '', true), set_config('app.user_id', '', true)"},
	} {
		tx, err := db.App.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if setting.sql != "" {
			if _, err := tx.ExecContext(ctx, setting.sql); err != nil {
				t.Fatal(err)
			}
		}
		for _, table := range tables {
			if n := rlsCount(t, tx, table, ""); n != 0 {
				t.Errorf("app.company_id %s: the server's role sees %d rows of %s, want none", setting.name, n, table)
			}
		}
		_ = tx.Rollback()
	}
}

// TestRLSSettingDoesNotOutliveItsTransaction uses a pool of one connection, so that company
// B's transaction runs on the very connection company A's just used.
func TestRLSSettingDoesNotOutliveItsTransaction(t *testing.T) {
	db, demo := rlsSeeded(t)
	ctx := context.Background()
	acme, beta := demo.Companies["Acme Construction"], demo.Companies["Beta Builders"]
	sqldb, err := sql.Open("postgres", db.AppURL)
	if err != nil {
		t.Fatal(err)
	}
	sqldb.SetMaxOpenConns(1)
	one := bun.NewDB(sqldb, pgdialect.New())
	t.Cleanup(func() { _ = one.Close() })

	var pid []int
	as := func(company string, commit bool) (own, other int) {
		t.Helper()
		tx, err := one.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.ExecContext(ctx, "SELECT set_config('app.company_id', ?, true)", company); err != nil {
			t.Fatal(err)
		}
		var p int
		if err := tx.NewRaw("SELECT pg_backend_pid()").Scan(ctx, &p); err != nil {
			t.Fatal(err)
		}
		pid = append(pid, p)
		own = rlsCount(t, tx, "folders", "company_id = ?", company)
		other = rlsCount(t, tx, "folders", "company_id <> ?", company)
		if commit {
			err = tx.Commit()
		} else {
			err = tx.Rollback()
		}
		if err != nil {
			t.Fatal(err)
		}
		return own, other
	}
	if own, other := as(acme, true); own == 0 || other != 0 {
		t.Errorf("A's transaction sees %d of its folders and %d of others", own, other)
	}
	if n := rlsCount(t, one, "folders", ""); n != 0 {
		t.Errorf("after A's transaction committed, the connection still sees %d folders", n)
	}
	if own, other := as(beta, false); own == 0 || other != 0 {
		t.Errorf("B's transaction sees %d of its folders and %d of others (A's carried over?)", own, other)
	}
	if n := rlsCount(t, one, "folders", ""); n != 0 {
		t.Errorf("after B's transaction rolled back, the connection still sees %d folders", n)
	}

	// The store does the same: A's operation and then B's, on the one connection.
	store := storage.New(&database.DB{DB: one, Reader: one, Dialect: database.Postgres})
	for _, company := range []string{acme, beta, acme} {
		ctx := access.AsSystem(ctx, company)
		page, err := store.Folders(ctx, storage.FolderFilter{}, storage.FolderNameAsc, storage.PageArgs{First: storage.MaxPageSize})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Items) == 0 {
			t.Errorf("the store saw no folders of %s", company)
		}
		for _, f := range page.Items {
			if f.CompanyID != company {
				t.Errorf("acting in %s, the store saw a folder of %s", company, f.CompanyID)
			}
		}
		if n := rlsCount(t, one, "folders", ""); n != 0 {
			t.Errorf("after the store's operation in %s, the connection sees %d folders", company, n)
		}
	}
	var p int
	if err := one.NewRaw("SELECT pg_backend_pid()").Scan(ctx, &p); err != nil {
		t.Fatal(err)
	}
	for _, q := range pid {
		if q != p {
			t.Fatalf("backends %v and %d: the pool did not reuse its one connection", pid, p)
		}
	}
}

func TestCheckServerRoleRefusesRolesThatBypassRLS(t *testing.T) {
	db := testdb.RequirePostgres(t)
	ctx := context.Background()
	if err := db.App.CheckServerRole(ctx); err != nil {
		t.Errorf("the ordinary role is refused: %v", err)
	}
	if err := db.Owner.CheckServerRole(ctx); !errors.Is(err, database.ErrUnsafeRole) {
		t.Errorf("a superuser that owns the tables: %v, want ErrUnsafeRole", err)
	}

	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	tag := hex.EncodeToString(suffix)
	role := func(prefix, attrs string) (string, *database.DB) {
		t.Helper()
		name := prefix + tag
		if _, err := db.Owner.ExecContext(ctx, "CREATE ROLE "+name+" LOGIN NOSUPERUSER "+attrs); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _, _ = db.Owner.ExecContext(context.Background(), "DROP ROLE IF EXISTS "+name) })
		u, err := url.Parse(db.AppURL)
		if err != nil {
			t.Fatal(err)
		}
		u.User = url.User(name)
		conn, err := database.Open(ctx, u.String(), "")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		return name, conn
	}
	_, bypass := role("laatu_t_bypass_", "BYPASSRLS")
	if err := bypass.CheckServerRole(ctx); !errors.Is(err, database.ErrUnsafeRole) || !strings.Contains(err.Error(), "BYPASSRLS") {
		t.Errorf("a BYPASSRLS role: %v, want ErrUnsafeRole", err)
	}
	ownerName, owner := role("laatu_t_owner_", "NOBYPASSRLS")
	table := "rls_owned_" + tag
	if _, err := db.Owner.ExecContext(ctx, "CREATE TABLE "+table+" (id int)"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = db.Owner.ExecContext(context.Background(), "DROP TABLE IF EXISTS "+table) })
	if _, err := db.Owner.ExecContext(ctx, "ALTER TABLE "+table+" OWNER TO "+ownerName); err != nil {
		t.Fatal(err)
	}
	if err := owner.CheckServerRole(ctx); !errors.Is(err, database.ErrUnsafeRole) || !strings.Contains(err.Error(), "owns") {
		t.Errorf("a role owning a table: %v, want ErrUnsafeRole", err)
	}
}
