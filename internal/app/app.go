// Package app assembles a running Laatu from its parts: it is the wiring that main performs,
// kept in a package so that end-to-end tests serve exactly what the binary serves.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/rs/zerolog"
	"github.com/uptrace/bun"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/laatu/laatu/graph"
	"github.com/laatu/laatu/internal/access"
	"github.com/laatu/laatu/internal/api"
	"github.com/laatu/laatu/internal/audit"
	"github.com/laatu/laatu/internal/auth"
	"github.com/laatu/laatu/internal/auth/password"
	"github.com/laatu/laatu/internal/auth/throttle"
	"github.com/laatu/laatu/internal/config"
	"github.com/laatu/laatu/internal/database"
	"github.com/laatu/laatu/internal/errs"
	"github.com/laatu/laatu/internal/httpx"
	"github.com/laatu/laatu/internal/metrics"
	"github.com/laatu/laatu/internal/playground"
	"github.com/laatu/laatu/internal/pubsub"
	"github.com/laatu/laatu/internal/ratelimit"
	"github.com/laatu/laatu/internal/storage"
	"github.com/laatu/laatu/internal/subscribe"
	"github.com/laatu/laatu/resolvers"
)

// App is a wired server.
type App struct {
	Store  *storage.Store
	Hasher *password.Hasher
	Audit  *audit.Auditor
	// Identity logs users in and runs sign-up, invitations and resets.
	Identity *auth.Service
	// Sessions authenticates bearer tokens, from a short-lived cache of sessions.
	Sessions *auth.Authenticator
	Handler  http.Handler
	// Metrics are this server's Prometheus metrics, on a registry of its own.
	Metrics *metrics.Metrics
	// Admin serves /metrics and /debug/pprof/: for the admin listener (--admin-addr), never
	// for the public one.
	Admin http.Handler
	// Subscriptions serves GraphQL subscriptions over WebSocket and SSE.
	Subscriptions *subscribe.Hub
	closers       []func() error
}

// Close stops the background work (the audit log's committer, after writing what is queued).
// Call it after the HTTP server has stopped.
func (a *App) Close() error {
	var errs []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		errs = append(errs, a.closers[i]())
	}
	return errors.Join(errs...)
}

// Option changes how New wires the server.
type Option func(*options)

type options struct {
	noViewAudit bool
	subscribe   []func(*subscribe.Options)
}

// WithoutViewAudit leaves views out of the audit log. It exists only so that a benchmark can
// measure what recording views costs; the server never uses it.
func WithoutViewAudit() Option { return func(o *options) { o.noViewAudit = true } }

// New wires the server over an open database. hasher may be nil (default parameters).
func New(ctx context.Context, cfg config.Config, log zerolog.Logger, db *database.DB, hasher *password.Hasher, opts ...Option) (*App, error) {
	var o options
	for _, f := range opts {
		f(&o)
	}
	store := storage.New(db)
	store.SetTrashRetention(cfg.TrashRetention)
	if hasher == nil {
		var err error
		if hasher, err = password.NewHasher(password.DefaultParams(), cfg.MaxHashing); err != nil {
			return nil, err
		}
	}
	a := &App{Store: store, Hasher: hasher, Metrics: metrics.New()}
	a.Admin = a.Metrics.Handler()
	if err := a.Metrics.WatchDB("laatu", db.DB.DB); err != nil {
		return nil, err
	}
	if db.Reader != nil && db.Reader != db.DB {
		if err := a.Metrics.WatchDB("laatu_reader", db.Reader.DB); err != nil {
			return nil, err
		}
	}

	// The audit log: changes are written in their own transaction (the change hook), views and
	// security events through the group committer, all mirrored to the audit stream, and
	// announced to the live audit tail through the broker of subscriptions.
	stream, closeStream, err := auditStream(cfg.AuditLog)
	if err != nil {
		return nil, err
	}
	a.closers = append(a.closers, closeStream)
	broker, pub, err := newBroker(ctx, cfg, log, db)
	if err != nil {
		_ = a.Close()
		return nil, err
	}
	// Closed after the auditor, which announces what it writes while it closes.
	a.closers = append(a.closers, func() error { broker.Close(); return nil })
	// The writer commits at once when no other response is under way, and otherwise waits a
	// little for their views, so that under load one WAL flush serves several responses.
	// A guest's views name the grant that admitted it, read from the store once the
	// operation's transaction has ended.
	a.Audit = audit.New(db, stream, audit.Options{Window: -1, Publisher: pub, Linger: auditLinger, LingerPending: auditLingerPending,
		Grants: store.AdmittingGrants, Reach: store.Reach})
	a.closers = append(a.closers, a.Audit.Close)

	// The session cache's hook comes first: what runs after a commit runs in the order of the
	// hooks, and a stream told of a change (the audit tail, subscriptions) must find the
	// changed user's sessions already forgotten when it checks its caller again.
	authn := auth.NewAuthenticator(store, auth.SessionPolicy{Idle: cfg.SessionIdle, Absolute: cfg.SessionAbsolute}, log)
	a.Sessions = authn
	a.closers = append(a.closers, authn.Close)
	store.OnChange(sessionChanges(pub, authn))
	store.OnChange(a.Audit.ChangeHook())
	followCtx, stopFollowing := context.WithCancel(context.WithoutCancel(ctx))
	following := followSessionChanges(followCtx, log, broker, authn)
	a.closers = append(a.closers, func() error { stopFollowing(); <-following; return nil })
	subs, err := a.subscriptions(cfg, log, broker, pub, authn, o.subscribe)
	if err != nil {
		_ = a.Close()
		return nil, err
	}
	if err := errors.Join(
		a.Metrics.Gauge("laatu_stream_connections", "Live WebSocket and SSE connections.", func() float64 { return float64(subs.Connections()) }),
		a.Metrics.Gauge("laatu_subscriptions_open", "Running subscription streams.", func() float64 { return float64(subs.Streams()) }),
	); err != nil {
		_ = a.Close()
		return nil, err
	}
	// Four failures of one address go free; the fifth blocks, so that the sixth attempt from
	// that address is refused. Attempts on one account from many addresses are spaced out more
	// gently (auth.NewAccountLimiter), so that its owner is not locked out.
	identity := auth.NewService(store, hasher, throttle.New(throttle.Config{FreeAttempts: 4}),
		auth.SessionPolicy{Idle: cfg.SessionIdle, Absolute: cfg.SessionAbsolute}, cfg.BaseURL)
	identity.Log = &log
	a.Identity = identity
	identity.Throttled = a.Metrics.LoginThrottled
	// Security events go through the same change hooks, inside the operation's transaction
	// where there is one (storage.Store.Emit).
	// An event about a known user is also written into the chain of every company the user is
	// a member of, once per company, so that each company's ADMINs read their members' logins,
	// failures and password changes in auditEvents like any other event of the company: the
	// tenant wall stays company_id = active company, and each copy is an ordinary link of its
	// company's chain. The system log (NoCompany) keeps every event, and alone those of
	// addresses without an account and of users without a membership.
	identity.Record = func(ctx context.Context, ev auth.Event) error {
		if ev.Action == "LOGIN_FAILED" {
			a.Metrics.LoginFailed()
		}
		companies := []string{audit.NoCompany}
		if ev.UserID != "" {
			// Logins happen before the request knows its caller: the event's actor is the user,
			// at the levels it holds.
			ms, err := store.MembershipsOf(access.NewContext(ctx, &access.Principal{UserID: ev.UserID}), ev.UserID)
			if err != nil {
				return err
			}
			p := *access.FromContext(ctx)
			p.UserID, p.SessionID = ev.UserID, ev.SessionID
			p.Memberships = make(map[string]access.Level, len(ms))
			for _, m := range ms {
				p.Memberships[m.CompanyID] = m.Level
				companies = append(companies, m.CompanyID)
			}
			ctx = access.NewContext(ctx, &p)
		}
		for _, co := range companies {
			if err := store.Emit(ctx, storage.Change{Kind: storage.ChangeKind(ev.Action), CompanyID: co,
				ObjectType: audit.KindUser, ObjectID: ev.UserID, Fields: ev.Fields}); err != nil {
				return err
			}
		}
		return nil
	}
	// Logins refused by the throttle are recorded one event per account and address per
	// window; what a window counted after its first refusal is written when it ends.
	flushCtx, stopFlushing := context.WithCancel(context.WithoutCancel(ctx))
	flushed := make(chan struct{})
	go func() {
		defer close(flushed)
		tick := time.NewTicker(auth.ThrottledWindow)
		defer tick.Stop()
		for {
			select {
			case <-flushCtx.Done():
				identity.FlushThrottled(log.WithContext(context.WithoutCancel(flushCtx)), true)
				return
			case <-tick.C:
				identity.FlushThrottled(log.WithContext(flushCtx), false)
			}
		}
	}()
	a.closers = append(a.closers, func() error { stopFlushing(); <-flushed; return nil })
	denied := func(ctx context.Context, companyID, objectType, objectID, reason string) {
		err := store.Emit(ctx, storage.Change{Kind: audit.ActionAccessDenied, CompanyID: companyID, ObjectType: objectType,
			ObjectID: objectID, Fields: []storage.FieldChange{{Field: "reason", After: reason}}})
		if err != nil {
			zerolog.Ctx(ctx).Error().Err(err).Msg("audit access denied")
		}
	}
	directives := &api.Directives{
		Denied: func(ctx context.Context, objectType, objectID, companyID string) {
			denied(ctx, companyID, objectType, objectID, "insufficient right")
		},
		// An id the caller may not see is recorded in the caller's own company: row-level
		// security hides other companies' rows from the server's role, so their owner is unknown.
		// A write is recorded in the company that holds the object, looked for among those
		// the caller belongs to or holds grants in, so that a guest's probing shows there too.
		Probed: func(ctx context.Context, id string) {
			company := access.FromContext(ctx).CompanyID
			if isMutation(ctx) {
				if co, err := store.ProbedCompany(ctx, id); err != nil {
					zerolog.Ctx(ctx).Error().Err(err).Msg("audit access denied")
				} else if co != "" {
					company = co
				}
			}
			if company == "" {
				company = audit.NoCompany
			}
			denied(ctx, company, "", id, "not found or not visible")
		},
		DeniedWrite: func(ctx context.Context, ids []string) {
			p := access.FromContext(ctx)
			if len(ids) == 0 && p.CompanyID != "" {
				denied(ctx, p.CompanyID, "COMPANY", p.CompanyID, "insufficient level")
			}
			for _, id := range ids {
				company, err := store.ProbedCompany(ctx, id)
				if err != nil {
					zerolog.Ctx(ctx).Error().Err(err).Msg("audit access denied")
				}
				if company == "" {
					company = p.CompanyID
				}
				if company == "" {
					company = audit.NoCompany
				}
				denied(ctx, company, "", id, "insufficient level")
			}
		},
	}
	schema := graph.NewExecutableSchema(graph.Config{
		Resolvers: &resolvers.Resolver{Store: store, Auth: identity, Audit: a.Audit},
		Directives: graph.DirectiveRoot{
			Auth: directives.Auth, Shared: directives.Shared, Public: directives.Public,
		},
	})
	// Budgets of operation cost per user, company and client address (429 over budget).
	budget, err := a.budgets(ctx, cfg, log)
	if err != nil {
		_ = a.Close()
		return nil, err
	}
	hooks := viewAudit(a.Audit, !o.noViewAudit)
	// A subscription's final error rides on the response that ends it (subscribe.Hub.Scope).
	hooks.Scope = subs.Scope(hooks.Scope)
	gql := api.New(schema, api.Options{
		Store: store, Auth: authn, Logger: log, Introspection: cfg.Playground,
		Limits: api.Limits{MaxDepth: cfg.MaxDepth, MaxComplexity: cfg.MaxComplexity, MaxAliases: cfg.MaxAliases,
			MaxListItems: storage.MaxPageSize, OnceFields: []string{"login"}},
		MaxTokens: cfg.MaxTokens, MaxErrors: cfg.MaxErrors, Timeout: cfg.RequestTimeout,
		MaxInFlight: cfg.MaxInFlight, MaxInFlightPerCompany: cfg.MaxInFlightPerCompany,
		Hooks:      hooks,
		Transports: subs.Transports(),
		Extensions: []graphql.HandlerExtension{a.Metrics.Extension()},
		Overloaded: a.Metrics.Overloaded,
		Budget:     budget,
	})
	// The PDF print of one document (issue 14): a download beside /graphql, authenticated
	// like it, the right re-checked by the store, audited as EXPORT.
	printPDF := api.DocumentPDF(api.PDFOptions{Store: store, Auth: authn, Timeout: cfg.RequestTimeout,
		Budget: budget, Probed: directives.Probed})
	if a.Handler, err = httpHandler(cfg, log, store, subs.Handler(gql), printPDF); err != nil {
		_ = a.Close()
		return nil, err
	}
	return a, nil
}

// budgets are the rate limits' token buckets per user, company and client address, kept in
// Redis when --redis-url is set (shared by every instance) and in memory otherwise. nil when
// every limit is off.
func (a *App) budgets(ctx context.Context, cfg config.Config, log zerolog.Logger) (func(context.Context, int) error, error) {
	rc := ratelimit.Config{
		User:    ratelimit.Limit{Rate: float64(cfg.RateLimitUser), Burst: cfg.RateLimitUserBurst},
		Company: ratelimit.Limit{Rate: float64(cfg.RateLimitCompany), Burst: cfg.RateLimitCompanyBurst},
		IP:      ratelimit.Limit{Rate: float64(cfg.RateLimitIP), Burst: cfg.RateLimitIPBurst},
	}
	if cfg.RedisURL != "" && !(rc.User.Off() && rc.Company.Off() && rc.IP.Off()) {
		r, err := ratelimit.OpenRedis(ctx, cfg.RedisURL)
		if err != nil {
			return nil, err
		}
		a.closers = append(a.closers, r.Close)
		rc.Redis = r
	}
	l := ratelimit.New(rc)
	if l == nil {
		return nil, nil
	}
	l.Rejected = a.Metrics.RateLimited
	var lastLogged atomic.Int64
	l.RedisFailed = func(err error) {
		a.Metrics.RedisFailed()
		// At most one line in ten seconds: under load every request would log one.
		if now := time.Now().UnixNano(); now-lastLogged.Load() > int64(10*time.Second) {
			lastLogged.Store(now)
			log.Warn().Err(err).Msg("rate limits: Redis does not answer; each instance limits on its own meanwhile")
		}
	}
	return l.Budget, nil
}

// --- Sessions ------------------------------------------------------------------------------

// sessionChanges returns the change hook that makes a change to a user's sessions or
// memberships reach every instance's session cache: every such change is a USER event of the
// audit log (LOGOUT, SESSION_REVOKED, PASSWORD_CHANGED, USER_DISABLED, LEVEL_CHANGED,
// MEMBER_ADDED, MEMBER_REMOVED, ...). This instance forgets the user's sessions as soon as the
// transaction commits; the others when the notification, published inside the transaction,
// reaches them (followSessionChanges).
func sessionChanges(pub pubsub.Publisher, authn *auth.Authenticator) storage.ChangeHook {
	return func(ctx context.Context, tx bun.IDB, ch storage.Change, afterCommit func(func())) error {
		// A login makes a new session and a failed one changes none: nothing cached is stale.
		if ch.ObjectType != audit.KindUser || ch.ObjectID == "" || ch.Kind == "LOGIN" || ch.Kind == "LOGIN_FAILED" || ch.Kind == "LOGIN_THROTTLED" {
			return nil
		}
		ctx, flush, _ := pubsub.WithTxQueue(ctx)
		if err := pub.Publish(ctx, tx, pubsub.Event{Topic: pubsub.SessionsTopic, Kind: string(ch.Kind), ObjectID: ch.ObjectID}); err != nil {
			return err
		}
		afterCommit(func() { authn.Invalidate(ch.ObjectID); flush() })
		return nil
	}
}

// followSessionChanges drops cached sessions as the notifications of sessionChanges arrive,
// from any instance. When its subscription ends (a lost listener, a full buffer) whatever it
// may have missed is forgotten too: every cached session is dropped before it subscribes again.
func followSessionChanges(ctx context.Context, log zerolog.Logger, broker *pubsub.Broker, authn *auth.Authenticator) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			sub, err := broker.Subscribe(ctx, pubsub.SessionsTopic, 1024)
			if err != nil {
				if ctx.Err() == nil {
					log.Warn().Err(err).Msg("follow session changes")
				}
				authn.Invalidate("")
				return
			}
			for ev := range sub.C() {
				if ev.Kind == pubsub.KindResync {
					authn.Invalidate("")
					continue
				}
				authn.Invalidate(ev.ObjectID)
			}
			authn.Invalidate("")
		}
	}()
	return done
}

// --- Subscriptions -------------------------------------------------------------------------

// WithSubscribeOptions adjusts the limits and timers of subscriptions (tests, load script).
func WithSubscribeOptions(f func(*subscribe.Options)) Option {
	return func(o *options) { o.subscribe = append(o.subscribe, f) }
}

// Shutdown completes every subscription and closes every WebSocket with a close frame. Call
// it before http.Server.Shutdown, which neither closes WebSockets nor ends SSE responses (it
// would wait for them), and Close after both.
func (a *App) Shutdown(ctx context.Context) error { return a.Subscriptions.Shutdown(ctx) }

// newBroker returns the broker of live changes and its publisher: fed by PostgreSQL's
// LISTEN/NOTIFY (one listener per instance, so that a change made through any instance reaches
// the subscribers of all) or, on SQLite, in-process. The caller closes the broker.
func newBroker(ctx context.Context, cfg config.Config, log zerolog.Logger, db *database.DB) (*pubsub.Broker, pubsub.Publisher, error) {
	if db.Dialect == database.Postgres && cfg.DatabaseURL != "" {
		return pubsub.NewPostgres(ctx, listenerURL(cfg.DatabaseURL), "", log)
	}
	if db.Dialect == database.Postgres {
		log.Warn().Msg("no DATABASE_URL to listen with: subscriptions reach the subscribers of this instance only")
	}
	broker, pub := pubsub.NewLocal(log)
	return broker, pub, nil
}

// subscriptions wires live changes over broker: the change hook that publishes inside every
// writing transaction, and the Hub behind the WebSocket and SSE transports.
func (a *App) subscriptions(cfg config.Config, log zerolog.Logger, broker *pubsub.Broker, pub pubsub.Publisher,
	authn *auth.Authenticator, adjust []func(*subscribe.Options)) (*subscribe.Hub, error) {
	a.Store.OnChange(subscribe.ChangeHook(pub))
	opts := subscribe.DefaultOptions()
	opts.AllowedOrigins = cfg.AllowedOrigins
	opts.MaxConnsPerUser = cfg.MaxStreamConnsPerUser
	opts.MaxSubscriptionsPerConn = cfg.MaxSubscriptionsPerWS
	opts.Buffer = cfg.StreamBuffer
	for _, f := range adjust {
		f(&opts)
	}
	hub, err := subscribe.New(a.Store, authn, broker, log, opts)
	if err != nil {
		return nil, err
	}
	a.Subscriptions = hub
	return hub, nil
}

// listenerURL names the listener's connection, so that it is easy to find in pg_stat_activity.
func listenerURL(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return dsn
	}
	q := u.Query()
	if q.Get("application_name") == "" {
		q.Set("application_name", "laatu-listener")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// --- Audit ---------------------------------------------------------------------------------

// auditLinger is how long the audit writer waits, at most, for the views of responses under
// way. About what one commit takes: long enough to gather the responses that finish meanwhile,
// short against a response's own time.
const auditLinger = 2 * time.Millisecond

// auditLingerPending is the fewest responses under way that make the writer linger. With
// fewer, one rarely finishes within the linger (a nested read takes several milliseconds), and
// the response waiting is simply delayed: measured, lingering for one other response of two
// clients cost about a tenth of their throughput.
const auditLingerPending = 4

func viewAudit(a *audit.Auditor, on bool) api.Hooks {
	if !on {
		return api.Hooks{}
	}
	return api.Hooks{Scope: a.Scope, Fields: []graphql.FieldMiddleware{audit.FieldMiddleware()}}
}

// auditStream opens where the audit stream's JSON lines go: stdout, stderr, a file (appended
// to, readable by the owner only), or nowhere ("off": nil, so that no line is even encoded).
func auditStream(where string) (io.Writer, func() error, error) {
	none := func() error { return nil }
	switch where {
	case "", "stdout":
		return os.Stdout, none, nil
	case "stderr":
		return os.Stderr, none, nil
	case "off":
		return nil, none, nil
	}
	f, err := os.OpenFile(where, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("open audit log: %w", err)
	}
	return f, f.Close, nil
}

// httpHandler assembles the routes and the edge middleware, outermost first.
func httpHandler(cfg config.Config, log zerolog.Logger, store *storage.Store, gql, documentPDF http.Handler) (http.Handler, error) {
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
	mux.Handle("GET /documents/{id}/pdf", documentPDF)
	mux.Handle("GET /healthz", httpx.Healthz())
	mux.Handle("GET /readyz", httpx.Readyz(store.Ping))
	if cfg.Playground {
		page := playground.Handler()
		mux.Handle("GET /{$}", page)
		mux.Handle("GET "+playground.AssetPrefix, page)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteJSONError(w, http.StatusNotFound, errs.NotFound, "no such endpoint; the API is at /graphql")
	})
	return httpx.Chain(mux,
		httpx.SecurityHeaders(httpx.SecurityOptions{HSTS: cfg.HTTPS(), FrameablePaths: []string{"/"}}),
		httpx.Identify(proxies),
		httpx.AccessLog(log),
		httpx.Recover,
		httpx.CORS(cfg.AllowedOrigins),
		crossOrigin,
		httpx.MaxBytes(cfg.MaxBodyBytes),
	), nil
}

func isMutation(ctx context.Context) bool {
	if !graphql.HasOperationContext(ctx) {
		return false
	}
	op := graphql.GetOperationContext(ctx).Operation
	return op != nil && op.Operation == ast.Mutation
}
