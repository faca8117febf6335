package audit

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/laatu/laatu/internal/database"
)

// cliUsage is printed on a usage error.
const cliUsage = `usage:
  laatu audit verify [--company ID]
  laatu audit export --company ID [--from RFC3339] [--to RFC3339]
  laatu audit prune --company ID --before RFC3339
`

// RunCLI runs `laatu audit <verify|export|prune> ...` with args starting at the subcommand,
// and returns the process exit code: 0 on success, 1 when verify finds tampering or a command
// fails, 2 on a usage error. db is the server's store; ownerDB the table owner's
// (DATABASE_ADMIN_URL), nil when not configured (SQLite, or no admin URL), in which case db is
// used: enough on SQLite and for one company on PostgreSQL, while verifying every company and
// pruning on PostgreSQL need the owner.
func RunCLI(ctx context.Context, args []string, db, ownerDB *database.DB, stdout, stderr io.Writer) int {
	asOwner := ownerDB != nil || db.Dialect != database.Postgres
	if ownerDB == nil {
		ownerDB = db
	}
	if len(args) == 0 {
		fmt.Fprint(stderr, cliUsage)
		return 2
	}
	fs := flag.NewFlagSet("laatu audit "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	company := fs.String("company", "", "the company id (the nil UUID for events outside any company)")
	var run func() error
	tampered := false
	switch args[0] {
	case "verify":
		run = func() error {
			var reports []Report
			var err error
			if *company != "" {
				var r Report
				r, err = Verify(ctx, ownerDB, *company)
				reports = []Report{r}
			} else {
				if !asOwner {
					// The server's role sees one company at a time: it would find no chain at all.
					return errors.New("verifying every company needs the owner's connection (DATABASE_ADMIN_URL); or pass --company")
				}
				reports, err = VerifyAll(ctx, ownerDB)
			}
			if err != nil {
				return err
			}
			for _, r := range reports {
				w := stdout
				if !r.OK() {
					w, tampered = stderr, true
				}
				fmt.Fprintln(w, r)
			}
			if len(reports) == 0 {
				fmt.Fprintln(stdout, "no audit events")
			}
			return nil
		}
	case "export":
		from := fs.String("from", "", "only events at or after this instant (RFC 3339)")
		to := fs.String("to", "", "only events before this instant (RFC 3339)")
		run = func() error {
			if *company == "" {
				return errUsage("--company is required")
			}
			f, err := parseTime("--from", *from)
			if err != nil {
				return err
			}
			t, err := parseTime("--to", *to)
			if err != nil {
				return err
			}
			n, err := Export(ctx, ownerDB, *company, f, t, stdout)
			if err == nil {
				fmt.Fprintf(stderr, "exported %d events\n", n)
			}
			return err
		}
	case "prune":
		before := fs.String("before", "", "delete the events that occurred before this instant (RFC 3339)")
		run = func() error {
			if *company == "" || *before == "" {
				return errUsage("--company and --before are required")
			}
			b, err := parseTime("--before", *before)
			if err != nil {
				return err
			}
			res, err := Prune(ctx, ownerDB, *company, b)
			if err != nil {
				return err
			}
			if res.Checkpoint == nil {
				fmt.Fprintln(stdout, "nothing to prune")
				return nil
			}
			fmt.Fprintf(stdout, "pruned %d events; checkpoint at seq %d, hash %s, checkpoint hash %s\n",
				res.Deleted, res.Checkpoint.Seq, res.Checkpoint.Hash, res.Checkpoint.CheckpointHash)
			return nil
		}
	default:
		fmt.Fprintf(stderr, "unknown audit command %q\n%s", args[0], cliUsage)
		return 2
	}
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "unexpected arguments: %v\n%s", fs.Args(), cliUsage)
		return 2
	}
	if err := run(); err != nil {
		fmt.Fprintln(stderr, err)
		var u usageError
		if errors.As(err, &u) {
			fmt.Fprint(stderr, cliUsage)
			return 2
		}
		return 1
	}
	if tampered {
		return 1
	}
	return 0
}

type usageError string

func (e usageError) Error() string { return string(e) }

func errUsage(msg string) error { return usageError(msg) }

func parseTime(flagName, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, errUsage(fmt.Sprintf("%s: %q is not an RFC 3339 instant", flagName, s))
	}
	return t, nil
}
