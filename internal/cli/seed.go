package cli

import (
	"context"
	"fmt"

	"github.com/urfave/cli/v3"

	"github.com/laatu/laatu/internal/app"
	"github.com/laatu/laatu/internal/auth/password"
	"github.com/laatu/laatu/internal/config"
	"github.com/laatu/laatu/internal/seed"
)

func seedCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "seed",
		Usage:     "load data into a migrated database",
		UsageText: "laatu seed --demo",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "demo", Usage: "load the demo companies, users and documents (dev mode only; idempotent)"},
		},
		Action: e.seed,
	}
}

// seed loads the demo data through the wired server, so that its creation is in the audit log
// exactly as when serve seeds.
func (e *env) seed(ctx context.Context, cmd *cli.Command) error {
	if err := noArgs(cmd); err != nil {
		return err
	}
	if !cmd.Bool("demo") {
		return usage("laatu seed --demo (the demo data is the only data to seed)")
	}
	cfg, err := e.config(cmd)
	if err != nil {
		return err
	}
	if cfg.Mode != config.Dev {
		return seed.ErrNotDev
	}
	db, err := openServer(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	hasher, err := password.NewHasher(password.DefaultParams(), cfg.MaxHashing)
	if err != nil {
		return err
	}
	log := e.logger(cfg)
	a, err := app.New(ctx, cfg, log, db, hasher)
	if err != nil {
		return err
	}
	res, err := seed.Demo(ctx, a.Store, hasher)
	if cerr := a.Close(); err == nil {
		err = cerr // the audit log's queue is written before the command says it is done
	}
	if err != nil {
		return err
	}
	if res.Created {
		fmt.Fprintln(e.stdout, "demo data loaded")
	} else {
		fmt.Fprintln(e.stdout, "demo data already present")
	}
	return nil
}
