package database_test

import (
	"bytes"
	"context"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/laatu/laatu/internal/database"
	"github.com/laatu/laatu/internal/testdb"
)

// bookkeeping are Bun's migration tables, compared only when both dialects agree on them.
var bookkeeping = []string{"bun_migrations", "bun_migration_locks"}

// schemaOf returns the base tables of db with their column names, sorted.
func schemaOf(t *testing.T, db *database.DB) map[string][]string {
	t.Helper()
	ctx := context.Background()
	out := map[string][]string{}
	var rows []struct {
		Table  string `bun:"table_name"`
		Column string `bun:"column_name"`
	}
	var err error
	switch db.Dialect {
	case database.SQLite:
		err = db.NewRaw(`SELECT m.name AS table_name, c.name AS column_name
			FROM sqlite_master AS m, pragma_table_info(m.name) AS c
			WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'`).Scan(ctx, &rows)
	case database.Postgres:
		err = db.NewRaw(`SELECT c.table_name, c.column_name FROM information_schema.columns AS c
			JOIN information_schema.tables AS t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
			WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'`).Scan(ctx, &rows)
	}
	if err != nil {
		t.Fatalf("read %s schema: %v", db.Dialect, err)
	}
	for _, r := range rows {
		out[r.Table] = append(out[r.Table], r.Column)
	}
	for _, cols := range out {
		slices.Sort(cols)
	}
	return out
}

// TestDialectsHaveTheSameSchema migrates a fresh SQLite and a fresh PostgreSQL database and
// checks that both end with the same tables and the same columns in each.
func TestDialectsHaveTheSameSchema(t *testing.T) {
	pg := schemaOf(t, testdb.RequirePostgres(t).Owner)
	lite := schemaOf(t, testdb.NewSQLite(t).App)
	if len(lite) < 10 {
		t.Fatalf("SQLite has only %d tables after migrating: %v", len(lite), slices.Sorted(maps.Keys(lite)))
	}
	for _, name := range bookkeeping {
		if !slices.Equal(pg[name], lite[name]) {
			t.Logf("Bun's %s differs between dialects (%v and %v); not compared", name, pg[name], lite[name])
			delete(pg, name)
			delete(lite, name)
		}
	}
	t.Logf("comparing %d tables: %v", len(lite), slices.Sorted(maps.Keys(lite)))
	for _, table := range slices.Sorted(maps.Keys(pg)) {
		if _, ok := lite[table]; !ok {
			t.Errorf("table %s is on PostgreSQL only", table)
		}
	}
	for _, table := range slices.Sorted(maps.Keys(lite)) {
		pgCols, ok := pg[table]
		if !ok {
			t.Errorf("table %s is on SQLite only", table)
			continue
		}
		if !slices.Equal(pgCols, lite[table]) {
			t.Errorf("table %s:\n  PostgreSQL %v\n  SQLite     %v", table, pgCols, lite[table])
		}
	}
}

// TestMigrateDownAndUp rolls back the newest migration alone, then all of them (to "0"), and
// applies them again, on each store.
func TestMigrateDownAndUp(t *testing.T) {
	for _, store := range []struct {
		name string
		open func(t *testing.T) *database.DB
	}{
		{"sqlite", func(t *testing.T) *database.DB { return testdb.NewSQLite(t).App }},
		{"postgres", func(t *testing.T) *database.DB { return testdb.RequirePostgres(t).Owner }},
	} {
		t.Run(store.name, func(t *testing.T) {
			db := store.open(t)
			ctx := context.Background()
			migrated := schemaOf(t, db)
			status := func() string {
				var b bytes.Buffer
				if err := db.MigrateStatus(ctx, &b); err != nil {
					t.Fatal(err)
				}
				return b.String()
			}
			if s := status(); strings.Contains(s, "pending") {
				t.Fatalf("a fresh database has pending migrations:\n%s", s)
			}

			one, err := db.MigrateDown(ctx, "")
			if err != nil || len(one) != 1 {
				t.Fatalf("one step down: %v %v", one, err)
			}
			if s := status(); strings.Count(s, "pending") != 1 || !strings.Contains(s, one[0]+"\tpending") {
				t.Fatalf("after one step down, want only %s pending:\n%s", one[0], s)
			}
			rest, err := db.MigrateDown(ctx, "0")
			if err != nil {
				t.Fatalf("migrate down to 0: %v", err)
			}
			if len(rest) == 0 {
				t.Fatal("migrate down to 0 rolled back nothing")
			}
			down := append(one, rest...)
			if s := status(); strings.Contains(s, "applied") {
				t.Errorf("after migrate down, still applied:\n%s", s)
			}
			left := schemaOf(t, db)
			for _, name := range bookkeeping {
				delete(left, name)
			}
			if len(left) > 0 {
				t.Errorf("migrate down left tables behind: %v", slices.Sorted(maps.Keys(left)))
			}

			up, err := db.MigrateUp(ctx)
			if err != nil {
				t.Fatalf("migrate up again: %v", err)
			}
			slices.Sort(up)
			slices.Sort(down)
			if !slices.Equal(up, down) {
				t.Errorf("migrate up applied %v after down rolled back %v", up, down)
			}
			if again := schemaOf(t, db); !maps.EqualFunc(again, migrated, slices.Equal) {
				t.Errorf("the schema after down and up differs from the first one:\n%v\n%v", again, migrated)
			}
			if s := status(); strings.Contains(s, "pending") {
				t.Errorf("after migrate up, still pending:\n%s", s)
			}
			if more, err := db.MigrateUp(ctx); err != nil || len(more) > 0 {
				t.Errorf("a second migrate up applied %v (%v)", more, err)
			}
		})
	}
}
