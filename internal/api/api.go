// Package api builds the GraphQL endpoint: gqlgen's server with only the transports Laatu
// needs, the query limits, the error presenter, and the per-operation scope (principal,
// transaction, dataloaders, audit) that every resolver runs in.
package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
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
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator/core"
	"github.com/vektah/gqlparser/v2/validator/rules"

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
	// MaxInFlight and MaxInFlightPerCompany bound the queries and mutations served at once
	// (0: no bound); see inFlight.
	MaxInFlight, MaxInFlightPerCompany int
	// Hooks plug later concerns (audit, subscriptions) into the operation scope.
	Hooks Hooks
	// Transports are added before the default ones (WebSocket, SSE), when set.
	Transports []graphql.Transport
	// Extensions are used before every other extension, outermost first (metrics), so that
	// they see each response as the client gets it.
	Extensions []graphql.HandlerExtension
	// Budget, when set, charges each operation's cost (as Limits computed it) to the
	// caller's budgets before it runs; an error (RATE_LIMITED, with RetryAfter) refuses the
	// operation, answered with 429 and Retry-After over HTTP. See ratelimit.Limiter.Budget.
	Budget func(ctx context.Context, cost int) error
	// Overloaded, when set, is told of each request refused because too many were in flight,
	// with the bound it hit ("instance" or "company").
	Overloaded func(scope string)
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
	srv.AddTransport(specHTTP{transport.GET{}})
	srv.AddTransport(specHTTP{transport.POST{}})
	srv.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	srv.SetParserTokenLimit(o.MaxTokens)
	srv.SetErrorPresenter(graph.ErrorPresenter)
	srv.SetRecoverFunc(graph.Recover)
	for _, ext := range o.Extensions {
		srv.Use(ext)
	}
	if o.Introspection {
		srv.Use(extension.Introspection{})
	} else {
		// gqlgen's switch covers fields and leaf selections; the other rules that suggest
		// names (arguments, types, input fields, enum values) are swapped here, so that a
		// server without introspection tells nothing of the schema the query did not name.
		srv.SetDisableSuggestion(true)
		srv.SetValidationRulesFn(rulesWithoutSuggestions)
		srv.AroundFields(introspectionOff)
	}
	srv.Use(o.Limits)

	srv.AroundOperations(func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		oc := graphql.GetOperationContext(ctx)
		httpx.AnnotationsFromContext(ctx).SetOperation(oc.OperationName, string(oc.Operation.Operation))
		if oc.Operation.Operation == ast.Subscription {
			if err := charge(ctx, o.Budget); err != nil {
				return answerOnce(errorResponse(ctx, err))
			}
			// The subscription's root field (and its directive) runs once, outside any response;
			// give it loaders of its own. Each event gets fresh ones in AroundResponses.
			ctx = dataloaders.NewContext(ctx, dataloaders.New(o.Store))
			return next(ctx)
		}
		return answerDeadline(next(ctx))
	})
	srv.AroundResponses(func(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
		if !graphql.HasOperationContext(ctx) || graphql.GetOperationContext(ctx).Operation == nil {
			return capErrors(next(ctx), o.MaxErrors)
		}
		if graphql.GetOperationContext(ctx).Operation.Operation != ast.Subscription {
			// Charged here rather than around the operation, so that the metrics see the refusal;
			// before scope, so that a refused operation costs no transaction.
			if err := charge(ctx, o.Budget); err != nil {
				return errorResponse(ctx, err)
			}
		}
		resp := capErrors(scope(ctx, o, next), o.MaxErrors)
		markUnavailable(ctx, resp)
		return resp
	})
	srv.AroundFields(graph.MarkInternal)
	srv.AroundFields(dataloaders.Active)
	for _, f := range o.Hooks.Fields {
		srv.AroundFields(f)
	}
	caps := newInFlight(o.MaxInFlight, o.MaxInFlightPerCompany, o.Overloaded)
	return withCharset(caps.instance(readBody(getOnlyQueries(o.MaxTokens, unavailableStatus(withTimeout(o.Timeout,
		withIdempotencyKey(authenticate(o, caps.tenant(srv)))))))))
}

// withCharset names the charset of gqlgen's JSON answers, whose transports send the bare media
// type (application/json or application/graphql-response+json). Streams are left alone: their
// writers must stay what net/http made them (hijackable, flushable).
func withCharset(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isStream(r) {
			next.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(&charsetWriter{ResponseWriter: w}, r)
	})
}

type charsetWriter struct {
	http.ResponseWriter
	wrote bool
}

func (w *charsetWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *charsetWriter) WriteHeader(status int) {
	if !w.wrote {
		w.wrote = true
		h := w.Header()
		if ct := h.Get("Content-Type"); (ct == "application/json" || ct == "application/graphql-response+json") && !strings.Contains(ct, "charset") {
			h.Set("Content-Type", ct+"; charset=utf-8")
		}
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *charsetWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// answerDeadline answers a query or mutation whose deadline passed before it ran. gqlgen's
// handler then returns nil (its end-of-stream signal), which the POST transport writes as the
// body "null"; the client gets the timeout error instead, once.
func answerDeadline(next graphql.ResponseHandler) graphql.ResponseHandler {
	answered := false
	return func(ctx context.Context) *graphql.Response {
		if err := ctx.Err(); err != nil && !answered {
			answered = true
			return errorResponse(ctx, err)
		}
		answered = true
		return next(ctx)
	}
}

// charge takes the operation's cost from the caller's budgets. Over budget, the HTTP answer
// becomes 429 with Retry-After (markRateLimited).
func charge(ctx context.Context, budget func(context.Context, int) error) error {
	if budget == nil {
		return nil
	}
	cost := 1
	if c, ok := graphql.GetOperationContext(ctx).Stats.GetExtension("complexity").(int); ok && c > 1 {
		cost = c
	}
	err := budget(ctx, cost)
	if err != nil {
		markRateLimited(ctx, err)
	}
	return err
}

// answerOnce is a response handler that answers resp and then ends (a refused subscription).
func answerOnce(resp *graphql.Response) graphql.ResponseHandler {
	done := false
	return func(context.Context) *graphql.Response {
		if done {
			return nil
		}
		done = true
		return resp
	}
}

// rulesWithoutSuggestions are gqlparser's rules with every rule that answers "Did you mean"
// replaced by its variant without suggestions.
func rulesWithoutSuggestions() *rules.Rules {
	r := rules.NewDefaultRules()
	for _, quiet := range []core.Rule{
		rules.KnownArgumentNamesRuleWithoutSuggestions,
		rules.KnownTypeNamesRuleWithoutSuggestions,
		rules.ValuesOfCorrectTypeRuleWithoutSuggestions,
	} {
		r.RemoveRule(strings.TrimSuffix(quiet.Name, "WithoutSuggestions"))
		r.AddRule(quiet.Name, quiet.RuleFunc)
	}
	return r
}

// introspectionOff gives introspection a clear refusal where it is disabled: gqlgen refuses
// with a plain error that would otherwise be masked and logged as an internal one.
func introspectionOff(ctx context.Context, next graphql.Resolver) (any, error) {
	res, err := next(ctx)
	if fc := graphql.GetFieldContext(ctx); err != nil && fc != nil && (fc.Field.Name == "__schema" || fc.Field.Name == "__type") {
		return nil, errs.New(errs.BadUserInput, "introspection is disabled on this server")
	}
	return res, err
}

// readBody reads a POST body before gqlgen does. httpx.MaxBytes refuses a declared
// Content-Length over the limit at once, but a chunked body only fails while it is read, and
// gqlgen would answer that with 200 and a generic message; here it is 413 like the other.
func readBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.Body != nil && r.Body != http.NoBody {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				if httpx.IsBodyTooLarge(err) {
					httpx.WriteBodyTooLarge(w)
					return
				}
				httpx.WriteJSONError(w, http.StatusBadRequest, errs.BadUserInput, "could not read the request body")
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		next.ServeHTTP(w, r)
	})
}

// getOnlyQueries refuses, with a code, the GET requests that gqlgen's GET transport would
// refuse with a bare message: a mutation or subscription (405: they are never sent over GET,
// so a link cannot change anything), an unparsable URL query or undecodable variables (400).
// Queries that do not parse are left to gqlgen, which reports them with a code.
func getOnlyQueries(maxTokens int, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.Header.Get("Upgrade") != "" {
			next.ServeHTTP(w, r)
			return
		}
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			httpx.WriteJSONError(w, http.StatusBadRequest, errs.BadUserInput, "the URL query could not be parsed")
			return
		}
		if v := q.Get("variables"); v != "" && !json.Valid([]byte(v)) {
			httpx.WriteJSONError(w, http.StatusBadRequest, errs.BadUserInput, "variables could not be decoded")
			return
		}
		if doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: q.Get("query")}, maxTokens); err == nil {
			if op := doc.Operations.ForName(q.Get("operationName")); op != nil && op.Operation != ast.Query {
				w.Header().Set("Allow", "POST")
				httpx.WriteJSONError(w, http.StatusMethodNotAllowed, errs.BadUserInput, "only queries may be sent with GET; send "+string(op.Operation)+"s with POST")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// scope runs one response in a transaction of its own (read-only unless a mutation) with fresh
// loaders, and commits before the response leaves.
func scope(ctx context.Context, o Options, next graphql.ResponseHandler) *graphql.Response {
	oc := graphql.GetOperationContext(ctx)
	readOnly := oc.Operation.Operation != ast.Mutation
	// A query's transaction starts with its first statement: one that reads nothing
	// ({ __typename }) costs no round trip, and a subscription's response, which waits here
	// for its next event, holds no connection meanwhile. A mutation always writes, and begins
	// at once, so that a database that cannot take it fails the request as a whole
	// (UNAVAILABLE, 503) rather than one field of it.
	begin := o.Store.BeginOnUse
	if !readOnly {
		begin = o.Store.Begin
	}
	txCtx, op, err := begin(ctx, readOnly)
	if err != nil {
		return errorResponse(ctx, err) // Begin returns no context on failure
	}
	ctx = txCtx
	defer op.Rollback()
	key := keyOf(ctx, !readOnly)
	if key != "" {
		replay, err := claim(ctx, o.Store, key)
		if err != nil {
			return errorResponse(ctx, err)
		}
		if replay != nil {
			return replay // the first answer; the transaction changed nothing and rolls back
		}
	}
	ctx = dataloaders.NewContext(ctx, dataloaders.New(o.Store))
	run := func(ctx context.Context) *graphql.Response {
		resp := next(ctx)
		if key != "" {
			if err := save(ctx, o.Store, key, resp); err != nil {
				// Not committed without its stored answer: a retry must not run it twice.
				op.Rollback()
				return errorResponse(ctx, err)
			}
		}
		return resp
	}
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
	if cerr := ctx.Err(); cerr != nil {
		// Past the deadline (or with the client gone), the driver's complaint about a canceled
		// statement or an aborted transaction is only a consequence: report the cause.
		err = cerr
	}
	if _, known := errs.As(err); !known {
		err = graph.Classify(err)
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
// session's user otherwise. A malformed Authorization header or a bad token answers 401 at once, so that a client with an expired
// session learns it before anything else happens. WebSocket clients authenticate in
// connection_init instead (see the WebSocket transport's InitFunc).
func authenticate(o Options, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		p := auth.Anonymous()
		header := r.Header.Get("Authorization")
		if header != "" && auth.BearerToken(header) == "" {
			// A token in another form ("Token x", a bare token, "Bearer" alone) is a client's
			// mistake: say so, rather than serving it silently as anonymous.
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_request"`)
			httpx.WriteJSONError(w, http.StatusUnauthorized, errs.Unauthenticated,
				`malformed Authorization header: send "Authorization: Bearer <token>", or no header to act anonymously`)
			return
		}
		if tok := auth.BearerToken(header); tok != "" {
			var err error
			p, err = o.Auth.Authenticate(ctx, tok, r.Header.Get("X-Company-ID"))
			if err != nil && ctx.Err() != nil {
				// The deadline passed (or the client left) while the session was looked up:
				// answer like any operation stopped by its deadline, not as a server fault.
				resp := errorResponse(ctx, err)
				markUnavailable(ctx, resp)
				writeResponse(w, resp)
				return
			}
			if err != nil && errs.KindOf(err) != errs.Unauthenticated && errs.IsUnavailable(err) {
				zerolog.Ctx(ctx).Warn().Err(err).Msg("authenticate: database unavailable")
				writeUnavailable(w, "the database is unavailable; try again")
				return
			}
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

// writeResponse writes a GraphQL response outside gqlgen's transports, as they would.
func writeResponse(w http.ResponseWriter, resp *graphql.Response) {
	w.Header().Set("Content-Type", httpx.JSONContentType)
	_ = json.NewEncoder(w).Encode(resp)
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
