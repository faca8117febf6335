// Package api builds the GraphQL endpoint: gqlgen's server with only the transports Laatu
// needs, the query limits, the error presenter, and the per-operation scope (principal,
// transaction, dataloaders, audit) that every resolver runs in.
package api

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/rs/zerolog"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/laatu/laatu/dataloaders"
	"github.com/laatu/laatu/graph"
	"github.com/laatu/laatu/internal/access"
	"github.com/laatu/laatu/internal/auth"
	"github.com/laatu/laatu/internal/errs"
	"github.com/laatu/laatu/internal/httpx"
	"github.com/laatu/laatu/internal/storage"
)

// Options configure the endpoint.
type Options struct {
	Store         *storage.Store
	Auth          *auth.Authenticator
	Logger        zerolog.Logger
	Introspection bool
	Limits        Limits
	MaxTokens     int
	MaxErrors     int
	Timeout       time.Duration
	// Hooks plug later concerns (audit, subscriptions) into the operation scope.
	Hooks Hooks
	// Transports are added before the default ones (WebSocket, SSE), when set.
	Transports []graphql.Transport
}

// Hooks let other packages take part in every operation without the api package knowing them.
type Hooks struct {
	// Scope runs around each response (each event, for subscriptions) inside its transaction,
	// and may wrap the context (the audit view collector) and act before the response leaves
	// (flushing view events). A returned error replaces the response: fail closed.
	Scope func(ctx context.Context, next func(ctx context.Context) *graphql.Response) (*graphql.Response, error)
	// Fields is extra field middleware (the audit view recorder).
	Fields []graphql.FieldMiddleware
}

// New returns the /graphql handler for schema.
func New(schema graphql.ExecutableSchema, o Options) http.Handler {
	srv := handler.New(schema)
	for _, t := range o.Transports {
		srv.AddTransport(t)
	}
	srv.AddTransport(transport.Options{AllowedMethods: []string{"GET", "POST", "OPTIONS"}})
	srv.AddTransport(transport.GET{})
	srv.AddTransport(transport.POST{})
	srv.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	srv.SetParserTokenLimit(o.MaxTokens)
	srv.SetErrorPresenter(graph.ErrorPresenter)
	srv.SetRecoverFunc(graph.Recover)
	if o.Introspection {
		srv.Use(extension.Introspection{})
	} else {
		srv.SetDisableSuggestion(true)
	}
	srv.Use(o.Limits)

	srv.AroundOperations(func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		oc := graphql.GetOperationContext(ctx)
		httpx.AnnotationsFromContext(ctx).SetOperation(oc.OperationName, string(oc.Operation.Operation))
		if oc.Operation.Operation == ast.Subscription {
			// The subscription's root field (and its directive) runs once, outside any response;
			// give it loaders of its own. Each event gets fresh ones in AroundResponses.
			ctx = dataloaders.NewContext(ctx, dataloaders.New(o.Store))
		}
		return next(ctx)
	})
	srv.AroundResponses(func(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
		if !graphql.HasOperationContext(ctx) || graphql.GetOperationContext(ctx).Operation == nil {
			return capErrors(next(ctx), o.MaxErrors)
		}
		return capErrors(scope(ctx, o, next), o.MaxErrors)
	})
	srv.AroundFields(graph.MarkInternal)
	for _, f := range o.Hooks.Fields {
		srv.AroundFields(f)
	}
	return authenticate(o, withTimeout(o.Timeout, srv))
}

// scope runs one response in a transaction of its own (read-only unless a mutation) with fresh
// loaders, and commits before the response leaves.
func scope(ctx context.Context, o Options, next graphql.ResponseHandler) *graphql.Response {
	oc := graphql.GetOperationContext(ctx)
	readOnly := oc.Operation.Operation != ast.Mutation
	ctx, op, err := o.Store.Begin(ctx, readOnly)
	if err != nil {
		return errorResponse(ctx, err)
	}
	defer op.Rollback()
	ctx = dataloaders.NewContext(ctx, dataloaders.New(o.Store))
	run := func(ctx context.Context) *graphql.Response { return next(ctx) }
	var resp *graphql.Response
	if o.Hooks.Scope != nil {
		resp, err = o.Hooks.Scope(ctx, func(ctx context.Context) *graphql.Response {
			r := run(ctx)
			if cerr := op.Commit(); cerr != nil && r != nil {
				return errorResponse(ctx, cerr)
			}
			return r
		})
		if err != nil {
			return errorResponse(ctx, err)
		}
		return resp
	}
	resp = run(ctx)
	if err := op.Commit(); err != nil {
		return errorResponse(ctx, err)
	}
	return resp
}

func errorResponse(ctx context.Context, err error) *graphql.Response {
	if _, known := errs.As(err); !known {
		err = &graph.Internal{Err: err}
	}
	return &graphql.Response{Errors: gqlerror.List{graph.ErrorPresenter(ctx, err)}}
}

// capErrors keeps at most max errors, so that a query cannot make a huge error response.
func capErrors(resp *graphql.Response, max int) *graphql.Response {
	if resp != nil && max > 0 && len(resp.Errors) > max {
		extra := len(resp.Errors) - max
		resp.Errors = append(resp.Errors[:max:max], &gqlerror.Error{
			Message:    "more errors were left out",
			Extensions: map[string]any{"code": string(errs.BadUserInput), "omitted": extra},
		})
	}
	return resp
}

// authenticate puts the caller's principal in the context: anonymous without a token, the
// session's user otherwise. A bad token answers 401 at once, so that a client with an expired
// session learns it before anything else happens. WebSocket clients authenticate in
// connection_init instead (see the WebSocket transport's InitFunc).
func authenticate(o Options, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		p := auth.Anonymous()
		if tok := auth.BearerToken(r.Header.Get("Authorization")); tok != "" {
			var err error
			p, err = o.Auth.Authenticate(ctx, tok, r.Header.Get("X-Company-ID"))
			if err != nil {
				status := http.StatusUnauthorized
				if errs.KindOf(err) != errs.Unauthenticated {
					zerolog.Ctx(ctx).Error().Err(err).Msg("authenticate")
					status, err = http.StatusInternalServerError, errs.New(errs.Internal, "internal error")
				}
				e, _ := errs.As(err)
				w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
				httpx.WriteJSONError(w, status, e.Kind, e.Message)
				return
			}
			httpx.AnnotationsFromContext(ctx).SetUserID(p.UserID)
		}
		next.ServeHTTP(w, r.WithContext(access.NewContext(ctx, p)))
	})
}

// withTimeout bounds queries and mutations; streams (WebSocket, SSE) live as long as the client.
func withTimeout(d time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d > 0 && !isStream(r) {
			ctx, cancel := context.WithTimeout(r.Context(), d)
			defer cancel()
			r = r.WithContext(ctx)
		}
		next.ServeHTTP(w, r)
	})
}

func isStream(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket") ||
		strings.Contains(r.Header.Get("Accept"), "text/event-stream")
}
