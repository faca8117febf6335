package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/rs/zerolog"

	"github.com/laatu/laatu/internal/access"
	"github.com/laatu/laatu/internal/app"
	"github.com/laatu/laatu/internal/auth/password"
	"github.com/laatu/laatu/internal/auth/token"
	"github.com/laatu/laatu/internal/config"
	"github.com/laatu/laatu/internal/database"
	"github.com/laatu/laatu/internal/seed"
	"github.com/laatu/laatu/internal/storage"
	"github.com/laatu/laatu/internal/subscribe"
)

// serve is the server side: Laatu wired as the binary wires it (app.New, an http.Server with
// its timeouts, subscriptions ended before the server on shutdown), over a fresh database with
// the demo data, on a loopback port. It prints the target as one JSON line, then serves until
// SIGTERM.
func serve(ctx context.Context, f flags) error {
	log := zerolog.New(os.Stderr).Level(zerolog.WarnLevel).With().Timestamp().Logger()
	db, appURL, cleanup, err := openDatabase(ctx, f.databaseURL)
	if err != nil {
		return err
	}
	defer cleanup()
	cfg, _, err := config.Load("bench", nil, func(string) string { return "" }, io.Discard)
	if err != nil {
		return err
	}
	cfg.AuditLog, cfg.DatabaseURL = "off", appURL
	// Cheap hashing: the bench logs nobody in by password.
	hasher, err := password.NewHasher(password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 4)
	if err != nil {
		return err
	}
	opts := []app.Option{app.WithSubscribeOptions(func(o *subscribe.Options) { o.MaxConnsPerUser = f.n + 10 })}
	if !f.viewAudit {
		opts = append(opts, app.WithoutViewAudit())
	}
	a, err := app.New(ctx, cfg, log, db, hasher, opts...)
	if err != nil {
		return err
	}
	defer a.Close()
	if _, err := seed.Demo(ctx, a.Store, hasher); err != nil {
		return err
	}
	tg := target{PID: os.Getpid()}
	if f.profile != "" {
		if tg.Debug, err = debugServer(); err != nil {
			return err
		}
	}
	if tg.Admin, err = session(ctx, a.Store, "admin@acme.test"); err != nil {
		return err
	}
	for range max(f.sessions, 1) {
		tok, err := session(ctx, a.Store, "member@acme.test")
		if err != nil {
			return err
		}
		tg.Tokens = append(tg.Tokens, tok)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: a.Handler, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		IdleTimeout: 120 * time.Second, MaxHeaderBytes: 64 << 10}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	tg.URL = "http://" + ln.Addr().String()
	line, _ := json.Marshal(tg)
	fmt.Println(string(line))

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	_ = a.Shutdown(sctx)
	return srv.Shutdown(sctx)
}

// session opens a session for a demo user directly in the store, as login would.
func session(ctx context.Context, store *storage.Store, email string) (string, error) {
	u, err := store.UserByEmail(access.AsSystem(ctx, ""), email)
	if err != nil {
		return "", err
	}
	plain, hash, err := token.New(token.SessionPrefix)
	if err != nil {
		return "", err
	}
	now := store.Now()
	err = store.CreateSession(ctx, &storage.Session{ID: storage.NewID(), UserID: u.ID, TokenHash: hash,
		CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(24 * time.Hour)})
	return plain, err
}

// openDatabase makes a fresh, migrated database: an SQLite file in a temporary directory, or
// a PostgreSQL database (dropped afterwards) reached through an ordinary role, so that
// row-level security costs what it costs in production. It returns the server's URL ("" on
// SQLite).
func openDatabase(ctx context.Context, adminURL string) (*database.DB, string, func(), error) {
	if adminURL == "" {
		dir, err := os.MkdirTemp("", "laatu-bench-")
		if err != nil {
			return nil, "", nil, err
		}
		db, err := database.Open(ctx, "", filepath.Join(dir, "laatu.db"))
		if err == nil {
			_, err = db.MigrateUp(ctx)
		}
		cleanup := func() {
			if db != nil {
				_ = db.Close()
			}
			_ = os.RemoveAll(dir)
		}
		if err != nil {
			cleanup()
			return nil, "", nil, err
		}
		return db, "", cleanup, nil
	}

	admin, err := database.Open(ctx, adminURL, "")
	if err != nil {
		return nil, "", nil, err
	}
	defer admin.Close()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name, role := "laatu_bench_"+hex.EncodeToString(b), "laatu_bench_app"
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		return nil, "", nil, err
	}
	_, _ = admin.ExecContext(ctx, "DO $$ BEGIN CREATE ROLE "+role+" LOGIN NOSUPERUSER NOBYPASSRLS; "+
		"EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$")
	drop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if a, err := database.Open(ctx, adminURL, ""); err == nil {
			_, _ = a.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			_ = a.Close()
		}
	}
	ownerURL, appURL := withDatabase(adminURL, name, ""), withDatabase(adminURL, name, role)
	owner, err := database.Open(ctx, ownerURL, "")
	if err != nil {
		drop()
		return nil, "", nil, err
	}
	defer owner.Close()
	if _, err := owner.MigrateUp(ctx); err != nil {
		drop()
		return nil, "", nil, err
	}
	if err := owner.GrantServerRole(ctx, appURL); err != nil {
		drop()
		return nil, "", nil, err
	}
	db, err := database.Open(ctx, appURL, "")
	if err != nil {
		drop()
		return nil, "", nil, err
	}
	return db, appURL, func() { _ = db.Close(); drop() }, nil
}

func withDatabase(base, name, user string) string {
	u, err := url.Parse(base)
	if err != nil {
		return base
	}
	u.Path = "/" + name
	if user != "" {
		u.User = url.User(user)
	}
	return u.String()
}
