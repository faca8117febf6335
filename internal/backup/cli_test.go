package backup_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/laatu/laatu/internal/backup"
	"github.com/laatu/laatu/internal/database"
	"github.com/laatu/laatu/internal/testdb"
	"github.com/laatu/laatu/internal/testserver"
)

// TestCLI runs `laatu backup create`, `verify` and `restore` as an operator would, including
// a damaged file, which fails with exit code 1 and leaves the target empty.
func TestCLI(t *testing.T) {
	s := testserver.New(t)
	target := testdb.NewSQLite(t)
	run := func(db *database.DB, args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := backup.CLI{
			Open: func(context.Context) (*database.DB, error) {
				return database.Open(context.Background(), urlOf(db, s), pathOf(db, s, target))
			},
			Migrate: func(context.Context) error { return nil },
			Stdout:  &out, Stderr: &errb,
		}.Run(context.Background(), args)
		return code, out.String(), errb.String()
	}
	file := filepath.Join(t.TempDir(), "laatu.backup")
	if code, out, errs := run(s.DB.Owner, "create", "--out", file); code != 0 || !strings.Contains(out, "of the whole system written to") {
		t.Fatalf("create: %d %q %q", code, out, errs)
	}
	if code, out, errs := run(s.DB.Owner, "verify", file); code != 0 || !strings.Contains(out, "every checksum matches") || !strings.Contains(out, "audit chain: company") {
		t.Fatalf("verify: %d %q %q", code, out, errs)
	}
	b, _ := os.ReadFile(file)
	bad := filepath.Join(t.TempDir(), "bad.backup")
	_ = os.WriteFile(bad, b[:len(b)-100], 0o600)
	if code, _, errs := run(target.Owner, "restore", bad); code != 1 || !strings.Contains(errs, "truncated") {
		t.Fatalf("restore of a truncated file: %d %q", code, errs)
	}
	var n int
	if err := target.Owner.NewRaw("SELECT count(*) FROM documents").Scan(context.Background(), &n); err != nil || n != 0 {
		t.Fatalf("after a refused restore: %d documents, %v", n, err)
	}
	if code, out, errs := run(target.Owner, "restore", file); code != 0 || !strings.Contains(out, "restored backup") {
		t.Fatalf("restore: %d %q %q", code, out, errs)
	}
	if code, _, errs := run(target.Owner, "restore", file); code != 1 || !strings.Contains(errs, "not empty") {
		t.Fatalf("second restore: %d %q", code, errs)
	}
	if code, _, _ := run(target.Owner, "verify"); code != 2 {
		t.Fatalf("verify without a file: exit %d, want 2", code)
	}
}

// urlOf and pathOf say how to reopen a test database: by URL on PostgreSQL, by file on SQLite.
func urlOf(db *database.DB, s *testserver.Server) string {
	if db == s.DB.Owner && s.DB.Dialect == database.Postgres {
		return s.DB.OwnerURL
	}
	return ""
}

func pathOf(db *database.DB, s *testserver.Server, target *testdb.DB) string {
	if db == s.DB.Owner {
		return s.DB.Path
	}
	return target.Path
}
