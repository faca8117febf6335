package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/rs/zerolog"
	"github.com/urfave/cli/v3"

	"github.com/laatu/laatu/internal/app"
	"github.com/laatu/laatu/internal/backup"
	"github.com/laatu/laatu/internal/database"
	"github.com/laatu/laatu/internal/storage"
)

// backupCommand is `laatu backup create|verify|restore|restore-object`. Its subcommands parse
// their own flags (internal/backup); the store flags come before `backup`, as for every command.
func backupCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:            "backup",
		Usage:           "write, check and restore portable backups (create, verify, restore, restore-object)",
		UsageText:       "laatu [store flags] backup create --out FILE [--company ID] [--encrypt-to age1...] | verify FILE | restore FILE [--force] | restore-object FILE --company ID --object ID",
		SkipFlagParsing: true,
		Action:          e.backup,
	}
}

func (e *env) backup(ctx context.Context, cmd *cli.Command) error {
	if args := cmd.Args().Slice(); len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		return cli.ShowSubcommandHelp(cmd)
	}
	cfg, err := e.config(cmd)
	if err != nil {
		return err
	}
	log := e.logger(cfg)
	code := backup.CLI{
		Open: func(ctx context.Context) (*database.DB, error) { return openOwner(ctx, cfg, "a backup") },
		Migrate: func(ctx context.Context) error {
			_, err := migrateUp(ctx, cfg, log, "a restore")
			return err
		},
		Store: func(ctx context.Context) (*storage.Store, func(), error) {
			db, err := openServer(ctx, cfg)
			if err != nil {
				return nil, nil, err
			}
			a, err := app.New(ctx, cfg, log, db, nil)
			if err != nil {
				db.Close()
				return nil, nil, err
			}
			return a.Store, func() { _ = a.Close(); db.Close() }, nil
		},
		Stdout: e.stdout, Stderr: e.stderr,
	}.Run(ctx, cmd.Args().Slice())
	if code != 0 {
		return exit(code)
	}
	return nil
}

// maintenanceCommand is `laatu maintenance purge`: it removes for good what has been in the
// trash longer than --trash-retention.
func maintenanceCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "maintenance",
		Usage: "maintenance of the store",
		Commands: []*cli.Command{{
			Name:      "purge",
			Usage:     "remove for good what has been in the trash longer than --trash-retention",
			UsageText: "laatu maintenance purge [--trash-retention 720h]",
			Action:    e.purge,
		}},
	}
}

func (e *env) purge(ctx context.Context, cmd *cli.Command) error {
	if err := noArgs(cmd); err != nil {
		return err
	}
	cfg, err := e.config(cmd)
	if err != nil {
		return err
	}
	db, err := openServer(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	a, err := app.New(ctx, cfg, e.logger(cfg), db, nil)
	if err != nil {
		return err
	}
	defer a.Close()
	cutoff := a.Store.Now().Add(-a.Store.TrashRetention())
	res, err := a.Store.Purge(ctx, cutoff)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "purged %d folders and %d documents deleted before %s, in %d companies\n",
		res.Folders, res.Documents, cutoff.Format(time.RFC3339), res.Companies)
	return nil
}

// logPurge records what the server's daily purge removed.
func logPurge(log zerolog.Logger, res storage.PurgeResult, err error) {
	if err != nil {
		log.Error().Err(err).Msg("trash purge failed")
		return
	}
	log.Info().Int("folders", res.Folders).Int("documents", res.Documents).Int("companies", res.Companies).Msg("trash purged")
}
