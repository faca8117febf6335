package backup_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"sort"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/laatu/laatu/internal/audit"
	"github.com/laatu/laatu/internal/backup"
	"github.com/laatu/laatu/internal/database"
	"github.com/laatu/laatu/internal/testdb"
	"github.com/laatu/laatu/internal/testserver"
)

func create(t *testing.T, db *database.DB, opt backup.CreateOptions) ([]byte, *backup.Manifest) {
	t.Helper()
	var buf bytes.Buffer
	m, err := backup.Create(context.Background(), db, &buf, opt)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	return buf.Bytes(), m
}

func read(t *testing.T, b []byte, ids ...age.Identity) *backup.Archive {
	t.Helper()
	a, err := backup.Read(bytes.NewReader(b), ids)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return a
}

// digest sums each table's rows in a form that does not depend on the dialect: JSON text
// (a jsonb column on PostgreSQL, text on SQLite) is compared by its content.
func digest(t *testing.T, a *backup.Archive) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, e := range a.Manifest.Entries {
		rows, err := a.Table(e.Table)
		if err != nil {
			t.Fatal(err)
		}
		var lines []string
		for _, row := range rows {
			norm := map[string]any{}
			for k, raw := range row {
				var v any
				if err := json.Unmarshal(raw, &v); err != nil {
					t.Fatal(err)
				}
				if s, ok := v.(string); ok && (strings.HasPrefix(s, "{") || strings.HasPrefix(s, "[")) {
					var inner any
					if json.Unmarshal([]byte(s), &inner) == nil {
						v = inner
					}
				}
				norm[k] = v
			}
			b, _ := json.Marshal(norm)
			lines = append(lines, string(b))
		}
		sort.Strings(lines)
		sum := sha256.Sum256([]byte(strings.Join(lines, "\n")))
		out[e.Table] = hex.EncodeToString(sum[:])
	}
	return out
}

func otherDialect(t *testing.T, d database.Dialect) *testdb.DB {
	if d == database.Postgres {
		return testdb.NewSQLite(t)
	}
	if testdb.PostgresURL() != "" {
		return testdb.New(t)
	}
	// The embedded-store run has no PostgreSQL: restore into a second SQLite database.
	return testdb.NewSQLite(t)
}

func verifyChains(t *testing.T, db *database.DB) int {
	t.Helper()
	reports, err := audit.VerifyAll(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range reports {
		if !r.OK() {
			t.Errorf("chain: %s", r)
		}
	}
	return len(reports)
}

// TestRoundTrip backs up the demo system, checks the archive without a database, restores it
// into an empty database of the other dialect and back, and finds the same rows and verifying
// audit chains at each step.
func TestRoundTrip(t *testing.T) {
	s := testserver.New(t)
	admin := s.Login(t, "admin@acme.test")
	// Something deleted and something personal, so that the trash and sessions travel too.
	res := s.Do(t, testserver.Request{Query: `{ folders(first: 1) { nodes { id } } }`, Token: admin}, nil)
	testserver.MustOK(t, res)

	raw, m := create(t, s.DB.Owner, backup.CreateOptions{})
	if m.Format != backup.FormatVersion || m.Dialect != string(s.DB.Dialect) || len(m.Migrations) == 0 || m.Rows()["documents"] == 0 {
		t.Fatalf("manifest %+v", m)
	}
	a := read(t, raw)
	reports, err := backup.Verify(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	if len(reports) < 2 {
		t.Fatalf("verify found %d chains, want both demo companies'", len(reports))
	}
	for _, r := range reports {
		if !r.OK() {
			t.Errorf("chain in the archive: %s", r)
		}
	}

	other := otherDialect(t, s.DB.Dialect)
	if err := backup.Restore(context.Background(), other.Owner, a, backup.RestoreOptions{}); err != nil {
		t.Fatalf("restore into %s: %v", other.Dialect, err)
	}
	if n := verifyChains(t, other.Owner); n < 2 {
		t.Fatalf("%d chains after restore", n)
	}
	rawB, _ := create(t, other.Owner, backup.CreateOptions{})
	b := read(t, rawB)
	want, got := digest(t, a), digest(t, b)
	for table, sum := range want {
		if got[table] != sum {
			t.Errorf("table %s differs after restoring %s into %s", table, s.DB.Dialect, other.Dialect)
		}
	}

	// Back into the first dialect, over existing data only with force.
	back := testdb.New(t)
	if err := backup.Restore(context.Background(), back.Owner, b, backup.RestoreOptions{}); err != nil {
		t.Fatalf("restore back: %v", err)
	}
	err = backup.Restore(context.Background(), back.Owner, a, backup.RestoreOptions{})
	if !errors.Is(err, backup.ErrNotEmpty) {
		t.Fatalf("restore into a non-empty database: %v, want ErrNotEmpty", err)
	}
	var replaced []string
	if err := backup.Restore(context.Background(), back.Owner, a, backup.RestoreOptions{Force: true,
		Replaced: func(table string, rows int) { replaced = append(replaced, table) }}); err != nil {
		t.Fatalf("forced restore: %v", err)
	}
	if len(replaced) == 0 {
		t.Error("a forced restore did not say what it replaced")
	}
	verifyChains(t, back.Owner)
	rawC, _ := create(t, back.Owner, backup.CreateOptions{})
	if got := digest(t, read(t, rawC)); len(got) != len(want) {
		t.Fatalf("tables after the round trip: %d, want %d", len(got), len(want))
	} else {
		for table, sum := range want {
			if got[table] != sum {
				t.Errorf("table %s differs after the round trip", table)
			}
		}
	}
}

// TestCompanyBackup keeps one company's rows and the users it refers to, and nothing of the
// other company.
func TestCompanyBackup(t *testing.T) {
	s := testserver.New(t)
	var companies []struct{ ID, Name string }
	if err := s.DB.Owner.NewRaw("SELECT id, name FROM companies ORDER BY name").Scan(context.Background(), &companies); err != nil {
		t.Fatal(err)
	}
	acme := companies[0].ID
	raw, m := create(t, s.DB.Owner, backup.CreateOptions{Company: acme})
	if m.Company != acme {
		t.Fatalf("manifest company %q", m.Company)
	}
	a := read(t, raw)
	for _, table := range []string{"folders", "documents", "audit_events", "memberships"} {
		rows, err := a.Table(table)
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) == 0 {
			t.Errorf("%s: no rows", table)
		}
		for _, r := range rows {
			var c string
			_ = json.Unmarshal(r["company_id"], &c)
			if c != acme {
				t.Fatalf("%s holds a row of company %s", table, c)
			}
		}
	}
	users, _ := a.Table("users")
	for _, u := range users {
		if strings.Contains(string(u["email"]), "beta.test") {
			t.Errorf("company backup holds a user of the other company: %s", u["email"])
		}
	}
	if _, ok := a.Entry("sessions"); ok {
		t.Error("a company backup holds sessions")
	}
	reports, err := backup.Verify(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	if len(reports) != 1 || !reports[0].OK() {
		t.Fatalf("company archive chains: %+v", reports)
	}
	if err := backup.Restore(context.Background(), testdb.NewSQLite(t).Owner, a, backup.RestoreOptions{}); err == nil {
		t.Fatal("a company archive restored as a whole system")
	}
}

// repack rewrites an archive's entries through edit, keeping the manifest unless edit changes it.
func repack(t *testing.T, raw []byte, edit func(name string, data []byte) []byte) []byte {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	var out bytes.Buffer
	gw := gzip.NewWriter(&out)
	tw := tar.NewWriter(gw)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		data = edit(hdr.Name, data)
		hdr.Size = int64(len(data))
		_ = tw.WriteHeader(hdr)
		_, _ = tw.Write(data)
	}
	_ = tw.Close()
	_ = gw.Close()
	return out.Bytes()
}

// TestBadArchives: truncated, altered, encrypted to someone else, or of a newer format, an
// archive is refused with an error that names the problem, and a restore writes nothing.
func TestBadArchives(t *testing.T) {
	s := testserver.New(t)
	raw, _ := create(t, s.DB.Owner, backup.CreateOptions{})
	key, _ := age.GenerateX25519Identity()
	wrong, _ := age.GenerateX25519Identity()
	enc, _ := create(t, s.DB.Owner, backup.CreateOptions{Recipients: []age.Recipient{key.Recipient()}})
	if bytes.Contains(enc, []byte("documents")) {
		t.Fatal("the encrypted archive shows its content")
	}
	if a := read(t, enc, key); a.Manifest.Rows()["documents"] == 0 {
		t.Fatal("the encrypted archive lost its rows")
	}

	altered := repack(t, raw, func(name string, data []byte) []byte {
		if name == "tables/documents.jsonl" {
			return bytes.Replace(data, []byte(`"DRAFT"`), []byte(`"APPROVED"`), 1)
		}
		return data
	})
	newer := repack(t, raw, func(name string, data []byte) []byte {
		if name == "manifest.json" {
			return bytes.Replace(data, []byte(`"format": 1`), []byte(`"format": 99`), 1)
		}
		return data
	})
	dropped := repack(t, raw, func(name string, data []byte) []byte {
		if name == "tables/comments.jsonl" {
			return data[:0]
		}
		return data
	})
	cases := []struct {
		name string
		data []byte
		ids  []age.Identity
		want string
		is   error
	}{
		{"truncated", raw[:len(raw)/2], nil, "truncated", backup.ErrFormat},
		{"empty", nil, nil, "not a Laatu backup", backup.ErrFormat},
		{"altered", altered, nil, "documents.jsonl does not match its checksum", backup.ErrFormat},
		{"rows removed", dropped, nil, "comments.jsonl does not match its checksum", backup.ErrFormat},
		{"newer format", newer, nil, "format version 99 is newer", backup.ErrFormat},
		{"no key", enc, nil, "encrypted", backup.ErrKey},
		{"wrong key", enc, []age.Identity{wrong}, "encrypted", backup.ErrKey},
		{"truncated encrypted", enc[:len(enc)-40], []age.Identity{key}, "", backup.ErrFormat},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := backup.Read(bytes.NewReader(c.data), c.ids)
			if err == nil || !errors.Is(err, c.is) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %v containing %q", err, c.is, c.want)
			}
		})
	}

	// Nothing is written when a restore fails part-way: here on a target that is too old.
	target := testdb.NewSQLite(t)
	a := read(t, raw)
	a.Manifest.Migrations = append(a.Manifest.Migrations, "29991231000000")
	if err := backup.Restore(context.Background(), target.Owner, a, backup.RestoreOptions{}); err == nil || !strings.Contains(err.Error(), "newer than this database") {
		t.Fatalf("restore of a newer schema: %v", err)
	}
	var n int
	if err := target.Owner.NewRaw("SELECT count(*) FROM users").Scan(context.Background(), &n); err != nil || n != 0 {
		t.Fatalf("after a failed restore: %d users, %v", n, err)
	}
}
