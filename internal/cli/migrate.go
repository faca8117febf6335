package cli

import (
	"context"
	"fmt"

	"github.com/rs/zerolog"
	"github.com/urfave/cli/v3"

	"github.com/laatu/laatu/internal/database"
)

func migrateCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "migrate",
		Usage: "apply, roll back or list the database migrations (as the tables' owner)",
		Commands: []*cli.Command{
			{Name: "up", Usage: "apply every pending migration and grant the server's role what it needs", Action: e.migrateUp},
			{Name: "status", Usage: "list the migrations, applied or pending", Action: e.migrateStatus},
			{
				Name: "down",
				Usage: "roll back the newest migration (only with --confirm); --to VERSION --confirm rolls back " +
					"every migration after VERSION, --to 0 all of them",
				Flags: []cli.Flag{
					&cli.BoolFlag{Name: "confirm", Usage: "really roll back: a down migration drops tables and their data"},
					&cli.StringFlag{Name: "to", Usage: "roll back every migration newer than this version (0: all, the audit log included)"},
				},
				Action: e.migrateDown,
			},
		},
		Action: func(context.Context, *cli.Command) error { return usage("laatu migrate up|down|status") },
	}
}

func (e *env) migrateUp(ctx context.Context, cmd *cli.Command) error {
	if err := noArgs(cmd); err != nil {
		return err
	}
	cfg, err := e.config(cmd)
	if err != nil {
		return err
	}
	applied, err := migrateUp(ctx, cfg, zerolog.Nop(), "laatu migrate") // listed on stdout below
	for _, m := range applied {
		fmt.Fprintln(e.stdout, "applied", m)
	}
	if err == nil && len(applied) == 0 {
		fmt.Fprintln(e.stdout, "nothing to apply")
	}
	return err
}

func (e *env) migrateStatus(ctx context.Context, cmd *cli.Command) error {
	owner, err := e.owner(ctx, cmd)
	if err != nil {
		return err
	}
	defer owner.Close()
	return owner.MigrateStatus(ctx, e.stdout)
}

func (e *env) migrateDown(ctx context.Context, cmd *cli.Command) error {
	to := cmd.String("to")
	if to != "" && to != "0" && !isVersion(to) {
		return usage("--to %q: want a migration version (the 14 digits before its name) or 0", to)
	}
	owner, err := e.owner(ctx, cmd)
	if err != nil {
		return err
	}
	defer owner.Close()
	if !cmd.Bool("confirm") {
		fmt.Fprintln(e.stderr, "laatu migrate down drops what the migrations created, data included; nothing was changed.")
		fmt.Fprintln(e.stderr, "See laatu migrate status, then run it again with --confirm (one step), or --to VERSION --confirm.")
		return exit(1)
	}
	undone, err := owner.MigrateDown(ctx, to)
	for _, m := range undone {
		fmt.Fprintln(e.stdout, "rolled back", m)
	}
	if err == nil && len(undone) == 0 {
		fmt.Fprintln(e.stdout, "nothing to roll back")
	}
	return err
}

// owner opens the tables' owner for a migrate subcommand that takes no arguments.
func (e *env) owner(ctx context.Context, cmd *cli.Command) (*database.DB, error) {
	if err := noArgs(cmd); err != nil {
		return nil, err
	}
	cfg, err := e.config(cmd)
	if err != nil {
		return nil, err
	}
	return openOwner(ctx, cfg, "laatu migrate")
}

func isVersion(s string) bool {
	if len(s) != 14 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
