package backup

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"filippo.io/age"

	"github.com/laatu/laatu/internal/database"
	"github.com/laatu/laatu/internal/storage"
)

const cliUsage = `usage:
  laatu backup create --out FILE [--company ID] [--encrypt-to RECIPIENT]
  laatu backup verify [--identity FILE] FILE
  laatu backup restore [--force] [--identity FILE] FILE
  laatu backup restore-object --company ID --object ID [--identity FILE] FILE
`

// CLI is what `laatu backup` needs from the program: a way to open the database as a role
// that may read and write every row (the table owner: DATABASE_ADMIN_URL on PostgreSQL), and
// to migrate it up before a restore.
type CLI struct {
	Open    func(ctx context.Context) (*database.DB, error)
	Migrate func(ctx context.Context) error
	// Store opens the live store wired with its change hooks (the audit log), for
	// restore-object; done closes it.
	Store  func(ctx context.Context) (store *storage.Store, done func(), err error)
	Stdout io.Writer
	Stderr io.Writer
}

// Run runs `laatu backup <create|verify|restore> ...` with args starting at the subcommand,
// and returns the exit code: 0 on success, 1 on failure (a bad archive, a chain that does
// not verify), 2 on a usage error.
func (c CLI) Run(ctx context.Context, args []string) int {
	if len(args) == 0 {
		fmt.Fprint(c.Stderr, cliUsage)
		return 2
	}
	fs := flag.NewFlagSet("laatu backup "+args[0], flag.ContinueOnError)
	fs.SetOutput(c.Stderr)
	var run func(pos []string) error
	switch args[0] {
	case "create":
		out := fs.String("out", "", "the archive file to write")
		company := fs.String("company", "", "back up this company only")
		to := fs.String("encrypt-to", "", "encrypt to these age recipients (age1..., comma-separated)")
		run = func(pos []string) error {
			if *out == "" || len(pos) > 0 {
				return usageError("create takes --out FILE")
			}
			return c.create(ctx, *out, *company, *to)
		}
	case "verify":
		identity := fs.String("identity", "", "age identity file, for an encrypted archive")
		run = func(pos []string) error {
			if len(pos) != 1 {
				return usageError("verify takes one FILE")
			}
			return c.verify(ctx, pos[0], *identity)
		}
	case "restore":
		identity := fs.String("identity", "", "age identity file, for an encrypted archive")
		force := fs.Bool("force", false, "replace the data of a database that is not empty")
		run = func(pos []string) error {
			if len(pos) != 1 {
				return usageError("restore takes one FILE")
			}
			return c.restore(ctx, pos[0], *identity, *force)
		}
	case "restore-object":
		identity := fs.String("identity", "", "age identity file, for an encrypted archive")
		company := fs.String("company", "", "the company the object belongs to")
		object := fs.String("object", "", "the folder's or document's id")
		run = func(pos []string) error {
			if len(pos) != 1 || *company == "" || *object == "" {
				return usageError("restore-object takes --company ID --object ID FILE")
			}
			return c.restoreObject(ctx, pos[0], *identity, *company, *object)
		}
	default:
		fmt.Fprint(c.Stderr, cliUsage)
		return 2
	}
	pos, err := parseInterleaved(fs, args[1:])
	if err == nil {
		err = run(pos)
	}
	var u usageError
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 2
	case errors.As(err, &u):
		fmt.Fprintf(c.Stderr, "laatu backup: %s\n%s", err, cliUsage)
		return 2
	case err != nil:
		fmt.Fprintln(c.Stderr, "laatu backup:", err)
		return 1
	}
	return 0
}

type usageError string

func (e usageError) Error() string { return string(e) }

// parseInterleaved parses flags given before, between or after the positional arguments.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos, args = append(pos, args[0]), args[1:]
	}
}

func (c CLI) create(ctx context.Context, out, company, to string) error {
	recipients, err := ParseRecipients(to)
	if err != nil {
		return err
	}
	db, err := c.Open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	// Written beside the target and renamed into place, so that a failed backup never leaves
	// a file that looks like one.
	tmp, err := os.CreateTemp(filepath.Dir(out), ".laatu-backup-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	m, err := Create(ctx, db, tmp, CreateOptions{Company: company, Recipients: recipients})
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return err
	}
	rows := 0
	for _, e := range m.Entries {
		rows += e.Rows
	}
	what := "the whole system"
	if company != "" {
		what = "company " + company
	}
	enc := ""
	if len(recipients) > 0 {
		enc = ", encrypted"
	}
	fmt.Fprintf(c.Stdout, "backup %s of %s written to %s: %d tables, %d rows%s\n", m.ID, what, out, len(m.Entries), rows, enc)
	return nil
}

func open(path, identity string) (*Archive, error) {
	var ids []age.Identity
	if identity != "" {
		f, err := os.Open(identity)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if ids, err = ParseIdentities(f); err != nil {
			return nil, err
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Read(f, ids)
}

func (c CLI) verify(ctx context.Context, path, identity string) error {
	a, err := open(path, identity)
	if err != nil {
		return err
	}
	m := a.Manifest
	rows := 0
	for _, e := range m.Entries {
		rows += e.Rows
	}
	fmt.Fprintf(c.Stdout, "archive %s: format %d, %s, taken %s from %s; %d tables, %d rows; every checksum matches\n",
		m.ID, m.Format, m.LaatuVersion, m.CreatedAt.Format("2006-01-02 15:04:05Z07:00"), m.Dialect, len(m.Entries), rows)
	reports, err := Verify(ctx, a)
	if err != nil {
		return err
	}
	bad := 0
	for _, r := range reports {
		w := c.Stdout
		if !r.OK() {
			w = c.Stderr
			bad++
		}
		fmt.Fprintln(w, "audit chain:", r)
	}
	if bad > 0 {
		return fmt.Errorf("%d audit chains in the archive do not verify", bad)
	}
	return nil
}

func (c CLI) restore(ctx context.Context, path, identity string, force bool) error {
	// The archive is read and checked whole before the database is touched.
	a, err := open(path, identity)
	if err != nil {
		return err
	}
	if err := c.Migrate(ctx); err != nil {
		return err
	}
	db, err := c.Open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	var replaced []string
	err = Restore(ctx, db, a, RestoreOptions{Force: force, Replaced: func(table string, rows int) {
		replaced = append(replaced, fmt.Sprintf("%s (%d rows)", table, rows))
	}})
	if err != nil {
		return err
	}
	if len(replaced) > 0 {
		fmt.Fprintf(c.Stdout, "replaced the data of %s\n", strings.Join(replaced, ", "))
	}
	rows := 0
	for _, e := range a.Manifest.Entries {
		rows += e.Rows
	}
	fmt.Fprintf(c.Stdout, "restored backup %s (taken %s from %s): %d tables, %d rows; run `laatu audit verify` to check the chains\n",
		a.Manifest.ID, a.Manifest.CreatedAt.Format("2006-01-02 15:04:05Z07:00"), a.Manifest.Dialect, len(a.Manifest.Entries), rows)
	return nil
}

func (c CLI) restoreObject(ctx context.Context, path, identity, company, object string) error {
	a, err := open(path, identity)
	if err != nil {
		return err
	}
	store, done, err := c.Store(ctx)
	if err != nil {
		return err
	}
	defer done()
	res, err := RestoreObject(ctx, store, a, company, object)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.Stdout, "restored %s from backup %s (taken %s): %d objects returned as they were, %d as a new version; %d comments, %d grants, %d versions added back\n",
		object, a.Manifest.ID, a.Manifest.CreatedAt.Format("2006-01-02 15:04:05Z07:00"), res.Returned, res.Versioned, res.Comments, res.Grants, res.Versions)
	return nil
}
