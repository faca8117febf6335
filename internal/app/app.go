// Package app assembles a running Laatu from its parts: it is the wiring that main performs,
// kept in a package so that end-to-end tests serve exactly what the binary serves.
package app

import (
	"context"
	"net/http"

	"github.com/99designs/gqlgen/graphql/playground"
	"github.com/rs/zerolog"

	"github.com/laatu/laatu/graph"
	"github.com/laatu/laatu/internal/api"
	"github.com/laatu/laatu/internal/auth"
	"github.com/laatu/laatu/internal/auth/password"
	"github.com/laatu/laatu/internal/auth/throttle"
	"github.com/laatu/laatu/internal/config"
	"github.com/laatu/laatu/internal/database"
	"github.com/laatu/laatu/internal/errs"
	"github.com/laatu/laatu/internal/httpx"
	"github.com/laatu/laatu/internal/storage"
	"github.com/laatu/laatu/resolvers"
)

// App is a wired server.
type App struct {
	Store   *storage.Store
	Hasher  *password.Hasher
	Handler http.Handler
}

// New wires the server over an open database. hasher may be nil (default parameters).
func New(ctx context.Context, cfg config.Config, log zerolog.Logger, db *database.DB, hasher *password.Hasher) (*App, error) {
	store := storage.New(db)
	if hasher == nil {
		var err error
		if hasher, err = password.NewHasher(password.DefaultParams(), cfg.MaxHashing); err != nil {
			return nil, err
		}
	}
	authn := auth.NewAuthenticator(store, auth.SessionPolicy{Idle: cfg.SessionIdle, Absolute: cfg.SessionAbsolute})
	identity := auth.NewService(store, hasher, throttle.New(throttle.Config{}),
		auth.SessionPolicy{Idle: cfg.SessionIdle, Absolute: cfg.SessionAbsolute}, cfg.BaseURL)
	directives := &auth.Directives{}
	schema := graph.NewExecutableSchema(graph.Config{
		Resolvers: &resolvers.Resolver{Store: store, Auth: identity},
		Directives: graph.DirectiveRoot{
			Auth: directives.Auth, Owner: directives.Owner, Shared: directives.Shared, Public: directives.Public,
		},
	})
	gql := api.New(schema, api.Options{
		Store: store, Auth: authn, Logger: log, Introspection: cfg.Playground,
		Limits:    api.Limits{MaxDepth: cfg.MaxDepth, MaxComplexity: cfg.MaxComplexity, MaxAliases: cfg.MaxAliases, OnceFields: []string{"login"}},
		MaxTokens: cfg.MaxTokens, MaxErrors: cfg.MaxErrors, Timeout: cfg.RequestTimeout,
	})
	h, err := httpHandler(cfg, log, store, gql)
	if err != nil {
		return nil, err
	}
	return &App{Store: store, Hasher: hasher, Handler: h}, nil
}

// httpHandler assembles the routes and the edge middleware, outermost first.
func httpHandler(cfg config.Config, log zerolog.Logger, store *storage.Store, gql http.Handler) (http.Handler, error) {
	proxies, err := httpx.ParseTrustedProxies(cfg.TrustedProxies)
	if err != nil {
		return nil, err
	}
	crossOrigin, err := httpx.CrossOrigin(cfg.AllowedOrigins)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/graphql", httpx.GraphQLMethodGuard(gql))
	mux.Handle("GET /healthz", httpx.Healthz())
	mux.Handle("GET /readyz", httpx.Readyz(store.Ping))
	if cfg.Playground {
		mux.Handle("GET /{$}", playground.Handler("Laatu", "/graphql"))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteJSONError(w, http.StatusNotFound, errs.NotFound, "no such endpoint; the API is at /graphql")
	})
	return httpx.Chain(mux,
		httpx.SecurityHeaders(httpx.SecurityOptions{HSTS: cfg.TLS(), FrameablePaths: []string{"/"}}),
		httpx.Identify(proxies),
		httpx.AccessLog(log),
		httpx.Recover,
		crossOrigin,
		httpx.MaxBytes(cfg.MaxBodyBytes),
	), nil
}
