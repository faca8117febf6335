package audit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/laatu/laatu/internal/database"
)

// Command runs the `laatu audit` commands (internal/cli parses their flags). DB is the
// server's store; Owner the tables' owner (DATABASE_ADMIN_URL), nil when not configured, in
// which case DB is used: enough on SQLite and for one company on PostgreSQL, while verifying
// every company and pruning on PostgreSQL need the owner.
type Command struct {
	DB, Owner      *database.DB
	Stdout, Stderr io.Writer
}

// owner is the connection to read and prune with, and whether it sees every company.
func (c Command) owner() (*database.DB, bool) {
	if c.Owner != nil {
		return c.Owner, true
	}
	return c.DB, c.DB.Dialect != database.Postgres
}

// Verify checks one company's chain, or every chain when company is "". It writes one line
// per chain (intact ones to Stdout, broken ones to Stderr) and returns ErrTampered if any broke
// (the broken chains are then already on Stderr).
func (c Command) Verify(ctx context.Context, company string) error {
	reports, err := c.verify(ctx, company)
	if err != nil {
		return err
	}
	tampered := false
	for _, r := range reports {
		w := c.Stdout
		if !r.OK() {
			w, tampered = c.Stderr, true
		}
		fmt.Fprintln(w, r)
	}
	if len(reports) == 0 {
		fmt.Fprintln(c.Stdout, "no audit events")
	}
	if tampered {
		return ErrTampered
	}
	return nil
}

func (c Command) verify(ctx context.Context, company string) ([]Report, error) {
	db, all := c.owner()
	if company != "" {
		r, err := Verify(ctx, db, company)
		return []Report{r}, err
	}
	if !all {
		// The server's role sees one company at a time: it would find no chain at all.
		return nil, errors.New("verifying every company needs the owner's connection (DATABASE_ADMIN_URL); or pass --company")
	}
	return VerifyAll(ctx, db)
}

// Export writes one company's events in [from, to) as JSON lines to Stdout (a zero time is
// unbounded) and their count to Stderr.
func (c Command) Export(ctx context.Context, company string, from, to time.Time) error {
	db, _ := c.owner()
	n, err := Export(ctx, db, company, from, to, c.Stdout)
	if err == nil {
		fmt.Fprintf(c.Stderr, "exported %d events\n", n)
	}
	return err
}

// Prune deletes one company's events before the instant, leaving a hashed checkpoint, and
// says what it did.
func (c Command) Prune(ctx context.Context, company string, before time.Time) error {
	db, _ := c.owner()
	res, err := Prune(ctx, db, company, before)
	if err != nil {
		return err
	}
	if res.Checkpoint == nil {
		fmt.Fprintln(c.Stdout, "nothing to prune")
		return nil
	}
	fmt.Fprintf(c.Stdout, "pruned %d events; checkpoint at seq %d, hash %s, checkpoint hash %s\n",
		res.Deleted, res.Checkpoint.Seq, res.Checkpoint.Hash, res.Checkpoint.CheckpointHash)
	return nil
}
