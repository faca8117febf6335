package cli

import (
	"context"
	"errors"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/laatu/laatu/internal/audit"
	"github.com/laatu/laatu/internal/database"
)

func auditCommand(e *env) *cli.Command {
	company := func(required bool) *cli.StringFlag {
		return &cli.StringFlag{Name: "company", Required: required, Usage: "the company id (the nil UUID for events outside any company)"}
	}
	instant := func(name, use string, required bool) *cli.TimestampFlag {
		return &cli.TimestampFlag{Name: name, Usage: use + " (RFC 3339)", Required: required,
			Config: cli.TimestampConfig{Layouts: []string{time.RFC3339}}}
	}
	return &cli.Command{
		Name:  "audit",
		Usage: "verify, export or prune the audit log's hash chains",
		Commands: []*cli.Command{
			{
				Name:   "verify",
				Usage:  "verify every chain, or one company's; exit 1 and the first bad event on tampering",
				Flags:  []cli.Flag{company(false)},
				Action: e.auditVerify,
			},
			{
				Name:  "export",
				Usage: "write one company's events as JSON lines to stdout",
				Flags: []cli.Flag{company(true), instant("from", "only events at or after this instant", false),
					instant("to", "only events before this instant", false)},
				Action: e.auditExport,
			},
			{
				Name:   "prune",
				Usage:  "delete one company's events before an instant, as the owner; leaves a hashed checkpoint",
				Flags:  []cli.Flag{company(true), instant("before", "delete the events that occurred before this instant", true)},
				Action: e.auditPrune,
			},
		},
		Action: func(context.Context, *cli.Command) error { return usage("laatu audit verify|export|prune") },
	}
}

func (e *env) auditVerify(ctx context.Context, cmd *cli.Command) error {
	return e.withAudit(ctx, cmd, func(c audit.Command) error {
		err := c.Verify(ctx, cmd.String("company"))
		if errors.Is(err, audit.ErrTampered) {
			return exit(1) // the broken chains are on stderr already
		}
		return err
	})
}

func (e *env) auditExport(ctx context.Context, cmd *cli.Command) error {
	return e.withAudit(ctx, cmd, func(c audit.Command) error {
		return c.Export(ctx, cmd.String("company"), cmd.Timestamp("from"), cmd.Timestamp("to"))
	})
}

func (e *env) auditPrune(ctx context.Context, cmd *cli.Command) error {
	return e.withAudit(ctx, cmd, func(c audit.Command) error {
		return c.Prune(ctx, cmd.String("company"), cmd.Timestamp("before"))
	})
}

// withAudit opens the server's store and, when configured, the owner's (verifying every chain
// and pruning on PostgreSQL need the owner), and runs an audit command with them.
func (e *env) withAudit(ctx context.Context, cmd *cli.Command, run func(audit.Command) error) error {
	if err := noArgs(cmd); err != nil {
		return err
	}
	cfg, err := e.config(cmd)
	if err != nil {
		return err
	}
	db, err := database.Open(ctx, cfg.DatabaseURL, cfg.SQLitePath())
	if err != nil {
		return err
	}
	defer db.Close()
	c := audit.Command{DB: db, Stdout: e.stdout, Stderr: e.stderr}
	if cfg.AdminDatabaseURL != "" {
		if c.Owner, err = database.Open(ctx, cfg.AdminDatabaseURL, ""); err != nil {
			return err
		}
		defer c.Owner.Close()
	}
	return run(c)
}
