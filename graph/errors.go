package graph

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime/debug"

	"github.com/99designs/gqlgen/graphql"
	"github.com/rs/zerolog"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/laatu/laatu/internal/errs"
)

// Internal marks an error that came out of a resolver without a known kind: a database
// failure, a bug. The presenter masks it. The field middleware wraps every such error, so that
// the presenter can tell it apart from gqlgen's own errors about the request (validation,
// argument types), whose text is meant for the client.
type Internal struct{ Err error }

func (e *Internal) Error() string { return e.Err.Error() }
func (e *Internal) Unwrap() error { return e.Err }

// MarkInternal is field middleware that wraps resolver errors without a kind in Internal.
func MarkInternal(ctx context.Context, next graphql.Resolver) (any, error) {
	res, err := next(ctx)
	if err != nil {
		if _, known := errs.As(err); !known && !isInternal(err) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			err = Classify(err)
		}
	}
	return res, err
}

// Classify gives an error without a kind the one it has: UNAVAILABLE when the database or the
// way to it failed (errs.IsUnavailable), else Internal (masked and logged).
func Classify(err error) error {
	if errs.IsUnavailable(err) {
		return errs.Unavailablef(err, "the database is unavailable; try again")
	}
	return &Internal{Err: err}
}

func isInternal(err error) bool {
	var i *Internal
	return errors.As(err, &i)
}

// ErrorPresenter maps error kinds to extensions.code with their client-safe message, masks
// unknown errors (logged with the request id, which the client also gets to quote), and
// answers gqlgen's own request errors as BAD_USER_INPUT.
func ErrorPresenter(ctx context.Context, err error) *gqlerror.Error {
	gqlErr := graphql.DefaultErrorPresenter(ctx, err)
	if gqlErr.Extensions == nil {
		gqlErr.Extensions = map[string]any{}
	}
	if cerr := ctx.Err(); cerr != nil && (isInternal(err) || errs.KindOf(err) == errs.Unavailable) {
		// Past the deadline, or with the client gone, a driver's complaint (a canceled
		// statement, a closed connection) is only a consequence: report the cause, and do not
		// log a client that hung up as a server fault.
		err = cerr
	}
	if e, ok := errs.As(err); ok && e.Kind != errs.Internal {
		if e.Kind == errs.Unavailable {
			zerolog.Ctx(ctx).Warn().Err(err).Str("path", gqlErr.Path.String()).Msg("unavailable")
		}
		gqlErr.Message = e.Message
		gqlErr.Extensions["code"] = string(e.Kind)
		if e.Field != "" {
			gqlErr.Extensions["field"] = e.Field
		}
		if e.RetryAfter > 0 {
			// Whole seconds, rounded up and at least 1, as the Retry-After header says.
			gqlErr.Extensions["retryAfterSeconds"] = max(1, int(math.Ceil(e.RetryAfter.Seconds())))
		}
		return gqlErr
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		gqlErr.Message = "the request took too long and was stopped"
		gqlErr.Extensions["code"] = string(errs.Unavailable)
		gqlErr.Extensions["retryAfterSeconds"] = int(errs.RetryAfterUnavailable.Seconds())
		return gqlErr
	case errors.Is(err, context.Canceled):
		// The client went away (or the server is stopping): nobody is likely to read this.
		gqlErr.Message = "the request was canceled"
		gqlErr.Extensions["code"] = string(errs.Unavailable)
		return gqlErr
	case isInternal(err) || errs.KindOf(err) == errs.Internal && isKnownInternal(err):
		zerolog.Ctx(ctx).Error().Err(err).Str("path", gqlErr.Path.String()).Msg("internal error")
		gqlErr.Message = "internal error"
		gqlErr.Extensions = map[string]any{"code": string(errs.Internal)}
		return gqlErr
	}
	// gqlgen's and gqlparser's own errors: parse, validation, argument coercion.
	if code, _ := gqlErr.Extensions["code"].(string); code == "" || code == "GRAPHQL_VALIDATION_FAILED" || code == "GRAPHQL_PARSE_FAILED" || code == "PERSISTED_QUERY_NOT_FOUND" {
		if code != "" {
			gqlErr.Extensions["reason"] = code
		}
		gqlErr.Extensions["code"] = string(errs.BadUserInput)
	}
	return gqlErr
}

// isKnownInternal reports an errs.Error of kind Internal, made on purpose by our code.
func isKnownInternal(err error) bool {
	_, ok := errs.As(err)
	return ok
}

// Recover turns a panic in a resolver into a masked INTERNAL error and logs it with its stack.
func Recover(ctx context.Context, p any) error {
	zerolog.Ctx(ctx).Error().Str("panic", fmt.Sprint(p)).Bytes("stack", debug.Stack()).Msg("panic in resolver")
	return &Internal{Err: fmt.Errorf("panic: %v", p)}
}
