// Command laatu is the Laatu GraphQL API server for quality documentation.
//
//	laatu [serve]            run the server (the default)
//	laatu migrate up|down|status
//	laatu seed --demo        load the demo data (dev mode only)
//	laatu audit verify [--company ID] | export --company ID [--from T] [--to T] | prune --company ID --before T
//	laatu config             print the configuration table (flags and environment variables)
//
// Everything is wired here by hand, in order: configuration → logger → database → migrations
// → storage → resolvers → GraphQL handler → HTTP server with graceful shutdown.
package main

//go:generate go run github.com/99designs/gqlgen generate

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	stdlog "log"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/laatu/laatu/internal/app"
	"github.com/laatu/laatu/internal/audit"
	"github.com/laatu/laatu/internal/auth/password"
	"github.com/laatu/laatu/internal/backup"
	"github.com/laatu/laatu/internal/config"
	"github.com/laatu/laatu/internal/database"
	"github.com/laatu/laatu/internal/mail"
	"github.com/laatu/laatu/internal/seed"
	"github.com/laatu/laatu/internal/storage"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// run is main without the process: it returns the exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		err = withConfig(cmd, args, getenv, stderr, func(cfg config.Config, log zerolog.Logger, _ []string) error {
			return serve(ctx, cfg, log, stdout)
		})
	case "migrate":
		err = withConfig(cmd, args, getenv, stderr, func(cfg config.Config, log zerolog.Logger, rest []string) error {
			return migrate(ctx, cfg, rest, stdout)
		})
	case "seed":
		err = withConfig(cmd, args, getenv, stderr, func(cfg config.Config, log zerolog.Logger, rest []string) error {
			return seedDemo(ctx, cfg, rest, stdout)
		})
	case "audit":
		var code int
		err = withConfig(cmd, flagsOnly(args), getenv, stderr, func(cfg config.Config, log zerolog.Logger, _ []string) error {
			code = auditCommand(ctx, cfg, positional(args), stdout, stderr)
			return nil
		})
		if err == nil && code != 0 {
			return code
		}
	case "maintenance":
		err = withConfig(cmd, flagsOnly(args), getenv, stderr, func(cfg config.Config, log zerolog.Logger, _ []string) error {
			return maintenance(ctx, cfg, log, positional(args), stdout)
		})
	case "backup":
		var code int
		err = withConfig(cmd, flagsOnly(args), getenv, stderr, func(cfg config.Config, log zerolog.Logger, _ []string) error {
			code = backup.CLI{
				Open: func(ctx context.Context) (*database.DB, error) {
					return database.Open(ctx, adminURL(cfg), cfg.SQLitePath())
				},
				Migrate: func(ctx context.Context) error { return migrateUp(ctx, cfg, log) },
				Store: func(ctx context.Context) (*storage.Store, func(), error) {
					db, err := openStore(ctx, cfg, log, false)
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
				Stdout: stdout, Stderr: stderr,
			}.Run(ctx, positional(args))
			return nil
		})
		if err == nil && code != 0 {
			return code
		}
	case "config":
		fmt.Fprint(stdout, config.Markdown())
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, "usage: laatu [serve|migrate up|down|status|seed --demo|audit verify|export|prune|maintenance purge|backup create|verify|restore|config] [flags]; laatu serve -h lists the flags")
	default:
		err = fmt.Errorf("unknown command %q (try laatu help)", cmd)
	}
	if err != nil {
		if !errors.Is(err, errFlagsShown) {
			fmt.Fprintln(stderr, "laatu:", err)
		}
		return 1
	}
	return 0
}

var errFlagsShown = errors.New("flags shown")

func withConfig(cmd string, args []string, getenv func(string) string, stderr io.Writer,
	fn func(config.Config, zerolog.Logger, []string) error) error {
	cfg, rest, err := config.Load("laatu "+cmd, args, getenv, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errFlagsShown
		}
		return err
	}
	return fn(cfg, newLogger(cfg, stderr), rest)
}

func newLogger(cfg config.Config, w io.Writer) zerolog.Logger {
	level, err := zerolog.ParseLevel(cfg.LogLevel)
	if err != nil {
		level = zerolog.InfoLevel
	}
	if cfg.LogFormat == "console" {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly}
	}
	return zerolog.New(w).Level(level).With().Timestamp().Logger()
}

// openStore opens the server's database, migrating first when asked to (as the owner when
// DATABASE_ADMIN_URL is set), and refuses a PostgreSQL role that could bypass row-level security.
func openStore(ctx context.Context, cfg config.Config, log zerolog.Logger, migrateFirst bool) (*database.DB, error) {
	if migrateFirst {
		if err := migrateUp(ctx, cfg, log); err != nil {
			return nil, err
		}
	}
	db, err := database.Open(ctx, cfg.DatabaseURL, cfg.SQLitePath())
	if err != nil {
		return nil, err
	}
	if err := db.CheckServerRole(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func migrateUp(ctx context.Context, cfg config.Config, log zerolog.Logger) error {
	owner, err := database.Open(ctx, adminURL(cfg), cfg.SQLitePath())
	if err != nil {
		return err
	}
	defer owner.Close()
	applied, err := owner.MigrateUp(ctx)
	if err != nil {
		return err
	}
	for _, m := range applied {
		log.Info().Str("migration", m).Msg("applied")
	}
	return owner.GrantServerRole(ctx, cfg.DatabaseURL)
}

func adminURL(cfg config.Config) string {
	if cfg.AdminDatabaseURL != "" {
		return cfg.AdminDatabaseURL
	}
	return cfg.DatabaseURL
}

func migrate(ctx context.Context, cfg config.Config, args []string, stdout io.Writer) error {
	if len(args) != 1 {
		return errors.New("usage: laatu migrate up|down|status")
	}
	owner, err := database.Open(ctx, adminURL(cfg), cfg.SQLitePath())
	if err != nil {
		return err
	}
	defer owner.Close()
	switch args[0] {
	case "up":
		applied, err := owner.MigrateUp(ctx)
		if err != nil {
			return err
		}
		for _, m := range applied {
			fmt.Fprintln(stdout, "applied", m)
		}
		if len(applied) == 0 {
			fmt.Fprintln(stdout, "nothing to apply")
		}
		return owner.GrantServerRole(ctx, cfg.DatabaseURL)
	case "down":
		undone, err := owner.MigrateDown(ctx)
		for _, m := range undone {
			fmt.Fprintln(stdout, "rolled back", m)
		}
		return err
	case "status":
		return owner.MigrateStatus(ctx, stdout)
	}
	return fmt.Errorf("unknown migrate command %q (up, down or status)", args[0])
}

// auditCommand runs `laatu audit ...` with the server's connection and, when configured, the
// owner's (verifying every chain and pruning need the owner).
func auditCommand(ctx context.Context, cfg config.Config, args []string, stdout, stderr io.Writer) int {
	db, err := database.Open(ctx, cfg.DatabaseURL, cfg.SQLitePath())
	if err != nil {
		fmt.Fprintln(stderr, "laatu:", err)
		return 1
	}
	defer db.Close()
	owner := db
	if cfg.AdminDatabaseURL != "" {
		if owner, err = database.Open(ctx, cfg.AdminDatabaseURL, ""); err != nil {
			fmt.Fprintln(stderr, "laatu:", err)
			return 1
		}
		defer owner.Close()
	} else if db.Dialect == database.Postgres {
		owner = nil
	}
	return audit.RunCLI(ctx, args, db, owner, stdout, stderr)
}

// flagsOnly and positional split `laatu audit` arguments: configuration flags (--database-url
// and the like, given as --flag=value) go to the configuration, the rest to the audit command.
func flagsOnly(args []string) []string {
	var out []string
	for _, a := range args {
		if name, _, ok := strings.Cut(strings.TrimLeft(a, "-"), "="); ok && strings.HasPrefix(a, "-") && isConfigFlag(name) {
			out = append(out, a)
		}
	}
	return out
}

func positional(args []string) []string {
	var out []string
	for _, a := range args {
		if name, _, ok := strings.Cut(strings.TrimLeft(a, "-"), "="); ok && strings.HasPrefix(a, "-") && isConfigFlag(name) {
			continue
		}
		out = append(out, a)
	}
	return out
}

func isConfigFlag(name string) bool {
	for _, s := range config.Settings() {
		if s.Flag == name {
			return true
		}
	}
	return false
}

func newHasher(cfg config.Config) (*password.Hasher, error) {
	return password.NewHasher(password.DefaultParams(), cfg.MaxHashing)
}

func seedDemo(ctx context.Context, cfg config.Config, args []string, stdout io.Writer) error {
	if len(args) != 1 || args[0] != "--demo" {
		return errors.New("usage: laatu seed --demo")
	}
	if cfg.Mode != config.Dev {
		return seed.ErrNotDev
	}
	db, err := database.Open(ctx, cfg.DatabaseURL, cfg.SQLitePath())
	if err != nil {
		return err
	}
	defer db.Close()
	hasher, err := newHasher(cfg)
	if err != nil {
		return err
	}
	res, err := seed.Demo(ctx, storage.New(db), hasher)
	if err != nil {
		return err
	}
	if res.Created {
		fmt.Fprintln(stdout, "demo data loaded")
	} else {
		fmt.Fprintln(stdout, "demo data already present")
	}
	return nil
}

func serve(ctx context.Context, cfg config.Config, log zerolog.Logger, stdout io.Writer) error {
	db, err := openStore(ctx, cfg, log, cfg.AutoMigrate)
	if err != nil {
		return err
	}
	defer db.Close()
	hasher, err := newHasher(cfg)
	if err != nil {
		return err
	}

	a, err := app.New(ctx, cfg, log, db, hasher)
	if err != nil {
		return err
	}
	defer func() {
		if err := a.Close(); err != nil {
			log.Error().Err(err).Msg("close")
		}
	}()
	if cfg.Mode == config.Dev && cfg.SeedDemo {
		// After wiring, so that the demo data's creation is in the audit log like any change.
		if _, err := seed.Demo(ctx, a.Store, hasher); err != nil {
			return fmt.Errorf("seed demo data: %w", err)
		}
	}
	// The trash's retention purge, at start and then daily.
	go a.Store.RunPurge(ctx, 24*time.Hour, func(res storage.PurgeResult, err error) {
		logPurge(log, res, err)
	})
	if t := mailTransport(cfg, log); t != nil {
		sender := &mail.Sender{Store: a.Store, Transport: t, Logger: log, Every: 5 * time.Second}
		go sender.Run(ctx)
	}
	srv := &http.Server{
		Addr:              cfg.Addr,
		Handler:           a.Handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		// No WriteTimeout: it would cut subscriptions. Queries and mutations are bounded by
		// --request-timeout instead.
		IdleTimeout:    120 * time.Second,
		MaxHeaderBytes: 64 << 10,
		// net/http's own complaints (TLS handshakes, bad requests) go to the structured log.
		ErrorLog: stdlog.New(log.With().Str("component", "http").Logger(), "", 0),
	}

	errc := make(chan error, 1)
	go func() {
		if cfg.TLS() {
			errc <- srv.ListenAndServeTLS(cfg.TLSCert, cfg.TLSKey)
		} else {
			errc <- srv.ListenAndServe()
		}
	}()
	banner(stdout, cfg, db.Dialect)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info().Msg("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	// Subscriptions first: http.Server.Shutdown neither closes WebSockets nor ends SSE
	// responses (it would wait for them); this completes them and sends close frames.
	if err := a.Shutdown(shutdownCtx); err != nil {
		log.Warn().Err(err).Msg("subscriptions did not all end in time")
	}
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info().Msg("stopped")
	return nil
}

// maintenance runs `laatu maintenance purge`: it removes for good what has been in the trash
// longer than --trash-retention.
func maintenance(ctx context.Context, cfg config.Config, log zerolog.Logger, args []string, stdout io.Writer) error {
	if len(args) != 1 || args[0] != "purge" {
		return errors.New("usage: laatu maintenance purge [--trash-retention=720h]")
	}
	db, err := openStore(ctx, cfg, log, false)
	if err != nil {
		return err
	}
	defer db.Close()
	a, err := app.New(ctx, cfg, log, db, nil)
	if err != nil {
		return err
	}
	defer a.Close()
	cutoff := a.Store.Now().Add(-a.Store.TrashRetention())
	res, err := a.Store.Purge(ctx, cutoff)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "purged %d folders and %d documents deleted before %s, in %d companies\n",
		res.Folders, res.Documents, cutoff.Format(time.RFC3339), res.Companies)
	return nil
}

func logPurge(log zerolog.Logger, res storage.PurgeResult, err error) {
	if err != nil {
		log.Error().Err(err).Msg("trash purge failed")
		return
	}
	log.Info().Int("folders", res.Folders).Int("documents", res.Documents).Int("companies", res.Companies).Msg("trash purged")
}

// mailTransport picks how the outbox is delivered: SMTP when configured; the log in dev mode;
// in prod without SMTP, nothing — mail waits in the outbox until SMTP is configured.
func mailTransport(cfg config.Config, log zerolog.Logger) mail.Transport {
	switch {
	case cfg.SMTPAddr != "":
		return mail.SMTP{Addr: cfg.SMTPAddr, From: cfg.SMTPFrom, User: cfg.SMTPUser, Password: cfg.SMTPPass}
	case cfg.Mode == config.Dev:
		return mail.Log{Logger: log}
	}
	log.Warn().Msg("no --smtp-addr: mail stays in the outbox until SMTP is configured")
	return nil
}

func banner(w io.Writer, cfg config.Config, dialect database.Dialect) {
	scheme := "http"
	if cfg.TLS() {
		scheme = "https"
	}
	fmt.Fprintf(w, "\nLaatu is running in %s mode on %s (%s store)\n", cfg.Mode, cfg.Addr, dialect)
	if cfg.Playground {
		fmt.Fprintf(w, "  playground: %s://%s/\n", scheme, cfg.Addr)
	}
	fmt.Fprintf(w, "  API:        %s://%s/graphql\n", scheme, cfg.Addr)
	if cfg.Mode == config.Dev && cfg.SeedDemo {
		fmt.Fprintf(w, "\nDemo accounts (password %q):\n", seed.Password)
		for _, a := range seed.Accounts {
			role := "guest (no membership; holds grants)"
			if a.Company != "" {
				role = fmt.Sprintf("%s of %s", a.Level, a.Company)
			}
			fmt.Fprintf(w, "  %-20s %s\n", a.Email, role)
		}
	}
	fmt.Fprintln(w, "\nPress Ctrl-C to stop.")
}
