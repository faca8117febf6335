package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	stdlog "log"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"time"

	"github.com/rs/zerolog"
	"github.com/urfave/cli/v3"

	"github.com/laatu/laatu/internal/app"
	"github.com/laatu/laatu/internal/auth/password"
	"github.com/laatu/laatu/internal/config"
	"github.com/laatu/laatu/internal/database"
	"github.com/laatu/laatu/internal/httpx"
	"github.com/laatu/laatu/internal/mail"
	"github.com/laatu/laatu/internal/seed"
	"github.com/laatu/laatu/internal/storage"
)

// serveGCPercent is the server's garbage collection target unless GOGC is set (see serve).
const serveGCPercent = 400

func serveCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:   "serve",
		Usage:  "run the server (the default command)",
		Action: e.serve,
	}
}

// serve starts in order: configuration, store (migrated first when asked), wiring, demo data,
// the bound listener, and only then the banner, so that the banner is true when it shows.
func (e *env) serve(ctx context.Context, cmd *cli.Command) error {
	if err := noArgs(cmd); err != nil {
		return err
	}
	cfg, err := e.config(cmd)
	if err != nil {
		return err
	}
	log := e.logger(cfg)
	if err := embeddedInProd(cfg, log); err != nil {
		return err
	}
	if err := plainInProd(cfg); err != nil {
		return err
	}
	warnDatabaseTLS(cfg, e.getenv, log)
	if e.getenv("GOGC") == "" {
		// A read allocates in proportion to what it returns while the live heap stays small
		// (tens of MiB), so Go's default (collect when the heap doubles) collects very often:
		// at 400 the nested read of bench/peers spends about a sixth less CPU per request, for
		// a heap a few times the live one. GOGC in the environment decides instead.
		debug.SetGCPercent(serveGCPercent)
	}
	if cfg.AutoMigrate {
		if _, err := migrateUp(ctx, cfg, log, "--auto-migrate (on by default; --auto-migrate=false serves a database migrated already)"); err != nil {
			return err
		}
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
		if _, err := seed.Demo(ctx, a.Store, hasher); err != nil {
			return fmt.Errorf("seed demo data: %w", err)
		}
	}
	srv, l, err := listen(cfg, log, a.Handler)
	if err != nil {
		return err
	}
	admin, adminL, err := listenAdmin(cfg, log, a.Admin)
	if err != nil {
		l.Close()
		return err
	}
	// The trash's retention purge, at start and then daily; stopped before serve returns.
	purgeCtx, stopPurge := context.WithCancel(ctx)
	purged := make(chan struct{})
	go func() {
		defer close(purged)
		a.Store.RunPurge(purgeCtx, 24*time.Hour, func(res storage.PurgeResult, err error) { logPurge(log, res, err) })
	}()
	defer func() { stopPurge(); <-purged }()
	if t := mailTransport(cfg, log); t != nil {
		// Stopped and waited for before serve returns, so that it never outlives the store.
		sender := &mail.Sender{Store: a.Store, Transport: t, Logger: log, Every: 5 * time.Second}
		senderCtx, stopSender := context.WithCancel(ctx)
		stopped := make(chan struct{})
		go func() { defer close(stopped); sender.Run(senderCtx) }()
		defer func() { stopSender(); <-stopped }()
	}
	errc := make(chan error, 2)
	if admin != nil {
		go func() {
			if err := admin.Serve(adminL); !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("admin listener: %w", err)
			}
		}()
		defer admin.Close() // metrics and profiles need no graceful end
	}
	go func() {
		if cfg.TLS() {
			errc <- srv.ServeTLS(l, "", "") // the pair loaded by listen, in srv.TLSConfig
		} else {
			errc <- srv.Serve(l)
		}
	}()
	adminAddr := ""
	if adminL != nil {
		adminAddr = adminL.Addr().String()
	}
	banner(e.stderr, cfg, db.Dialect, l.Addr().String(), adminAddr)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	return shutdown(a, srv, log)
}

// embeddedInProd refuses the embedded store in prod unless allowed: it has no row-level
// security, one of the three walls between companies.
func embeddedInProd(cfg config.Config, log zerolog.Logger) error {
	if cfg.Mode != config.Prod || cfg.DatabaseURL != "" {
		return nil
	}
	if !cfg.AllowEmbedded {
		return errors.New("prod mode on the embedded SQLite store: it has no row-level security between companies; " +
			"set DATABASE_URL to PostgreSQL, or pass --allow-embedded-store to accept it")
	}
	log.Warn().Msg("prod mode on the embedded SQLite store (--allow-embedded-store): no row-level security between companies")
	return nil
}

// plainInProd refuses to serve prod over plain HTTP: sessions and passwords would cross the
// network in clear. Plain HTTP is served in prod only behind a proxy that terminates TLS,
// which must then be trusted for the client's address (--trusted-proxies, checked by config).
func plainInProd(cfg config.Config) error {
	if cfg.Mode != config.Prod || cfg.HTTPS() {
		return nil
	}
	return errors.New("prod mode without TLS: sessions and passwords would cross the network in plain text; " +
		"pass --tls-cert and --tls-key, or --tls-terminated-by-proxy with --trusted-proxies when a proxy serves HTTPS in front of Laatu")
}

// warnDatabaseTLS warns, in prod, when a PostgreSQL connection may be read or redirected on
// the way: sslmode verify-full is the only mode that both encrypts and checks the server's
// name against a trusted CA. It never refuses: a database on the same host or a private link
// may be a deliberate choice.
func warnDatabaseTLS(cfg config.Config, getenv func(string) string, log zerolog.Logger) {
	if cfg.Mode != config.Prod {
		return
	}
	for _, c := range []struct{ name, url string }{{"DATABASE_URL", cfg.DatabaseURL}, {"DATABASE_ADMIN_URL", cfg.AdminDatabaseURL}} {
		if c.url == "" {
			continue
		}
		mode := sslMode(c.url, getenv)
		switch mode {
		case "verify-full":
		case "disable", "allow", "prefer":
			log.Warn().Str("sslmode", mode).Msgf("%s: the connection to PostgreSQL may be in plain text; use sslmode=verify-full with sslrootcert (the CA of the server's certificate)", c.name)
		default: // require, verify-ca, and lib/pq's default (require)
			log.Warn().Str("sslmode", mode).Msgf("%s: the connection to PostgreSQL is encrypted but the server's name is not verified; use sslmode=verify-full with sslrootcert (the CA of the server's certificate)", c.name)
		}
	}
}

// sslMode is the sslmode lib/pq uses for the URL: the URL's own, else verify-full for
// sslrootcert=system, else PGSSLMODE, else lib/pq's default, require.
func sslMode(raw string, getenv func(string) string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "unknown"
	}
	q := u.Query()
	switch {
	case q.Get("sslmode") != "":
		return q.Get("sslmode")
	case q.Get("sslrootcert") == "system":
		return "verify-full"
	case getenv("PGSSLMODE") != "":
		return getenv("PGSSLMODE")
	}
	return "require"
}

// listen binds the address (and loads the TLS pair) before anything says the server runs.
func listen(cfg config.Config, log zerolog.Logger, h http.Handler) (*http.Server, net.Listener, error) {
	srv := &http.Server{
		Addr:              cfg.Addr,
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		// No WriteTimeout: it would cut subscriptions. Queries and mutations are bounded by
		// --request-timeout instead.
		IdleTimeout:    120 * time.Second,
		MaxHeaderBytes: 64 << 10,
		// net/http's own complaints (TLS handshakes, bad requests) go to the structured log.
		ErrorLog: stdlog.New(log.With().Str("component", "http").Logger(), "", 0),
	}
	var cert tls.Certificate
	if cfg.TLS() {
		var err error
		if cert, err = tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey); err != nil {
			return nil, nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
	}
	l, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, nil, fmt.Errorf("listen on --addr %s: %w", cfg.Addr, err)
	}
	if cfg.TLS() {
		srv.TLSConfig = httpx.ServerTLSConfig(cert) // Mozilla's intermediate profile
	}
	return srv, l, nil
}

// listenAdmin binds the admin listener (metrics, profiles), when --admin-addr is set. It is
// plain HTTP: keep it on loopback or a private network.
func listenAdmin(cfg config.Config, log zerolog.Logger, h http.Handler) (*http.Server, net.Listener, error) {
	if cfg.AdminAddr == "" {
		return nil, nil, nil
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		// A CPU profile or an execution trace runs for the seconds it is asked for (30 by default).
		WriteTimeout:   5 * time.Minute,
		IdleTimeout:    120 * time.Second,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       stdlog.New(log.With().Str("component", "admin").Logger(), "", 0),
	}
	l, err := net.Listen("tcp", cfg.AdminAddr)
	if err != nil {
		return nil, nil, fmt.Errorf("listen on --admin-addr %s (metrics and profiles; --admin-addr off to serve none): %w", cfg.AdminAddr, err)
	}
	return srv, l, nil
}

// shutdown ends subscriptions first: http.Server.Shutdown neither closes WebSockets nor ends
// SSE responses (it would wait for them); this completes them and sends close frames.
func shutdown(a *app.App, srv *http.Server, log zerolog.Logger) error {
	log.Info().Msg("shutting down")
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := a.Shutdown(ctx); err != nil {
		log.Warn().Err(err).Msg("subscriptions did not all end in time")
	}
	if err := srv.Shutdown(ctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info().Msg("stopped")
	return nil
}

// mailTransport picks how the outbox is delivered: SMTP when configured; the log in dev mode;
// in prod without SMTP, nothing — mail waits in the outbox until SMTP is configured.
func mailTransport(cfg config.Config, log zerolog.Logger) mail.Transport {
	switch {
	case cfg.SMTPAddr != "":
		if cfg.SMTPTLS != mail.TLSRequired {
			log.Warn().Str("smtp_tls", cfg.SMTPTLS).Msg("--smtp-tls is not required: mail, with its invitation and reset links, may cross the network in plain text")
		}
		return mail.SMTP{Addr: cfg.SMTPAddr, From: cfg.SMTPFrom, User: cfg.SMTPUser, Password: cfg.SMTPPass, TLS: cfg.SMTPTLS}
	case cfg.Mode == config.Dev:
		return mail.Log{Logger: log}
	}
	log.Warn().Msg("no --smtp-addr: mail stays in the outbox until SMTP is configured")
	return nil
}

// banner tells a person where the server is; addr is the bound address (a port of 0 resolved).
func banner(w io.Writer, cfg config.Config, dialect database.Dialect, addr, adminAddr string) {
	scheme := "http"
	if cfg.TLS() {
		scheme = "https"
	}
	if host, port, err := net.SplitHostPort(cfg.Addr); err == nil && port != "0" && host != "" {
		addr = cfg.Addr // the name the user gave (localhost:8080), not the resolved 127.0.0.1
	}
	fmt.Fprintf(w, "\nLaatu is running in %s mode on %s (%s store)\n", cfg.Mode, addr, dialect)
	if cfg.Playground {
		fmt.Fprintf(w, "  playground: %s://%s/\n", scheme, addr)
	}
	fmt.Fprintf(w, "  API:        %s://%s/graphql\n", scheme, addr)
	if adminAddr != "" {
		fmt.Fprintf(w, "  metrics:    http://%s/metrics (and /debug/pprof/)\n", adminAddr)
	}
	switch cfg.AuditLog {
	case "off":
		fmt.Fprintln(w, "  audit log:  in the database only (--audit-log off)")
	case "stdout", "stderr":
		fmt.Fprintf(w, "  audit log:  in the database and as JSON lines on %s\n", cfg.AuditLog)
	default:
		fmt.Fprintf(w, "  audit log:  in the database and as JSON lines in %s\n", cfg.AuditLog)
	}
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
