// Package errs defines the small set of error kinds that Laatu reports to clients.
//
// Every package wraps its failures with one of these kinds (errors.Is works through the
// wrapping); the GraphQL error presenter maps the kind to extensions.code once. An error
// with no kind is INTERNAL: its text is logged and never shown to the client.
package errs

import (
	"errors"
	"fmt"
	"time"
)

// Kind is a client-visible class of error.
type Kind string

// The kinds, as they appear in extensions.code.
const (
	Unauthenticated Kind = "UNAUTHENTICATED"
	Forbidden       Kind = "FORBIDDEN"
	NotFound        Kind = "NOT_FOUND"
	BadUserInput    Kind = "BAD_USER_INPUT"
	Conflict        Kind = "CONFLICT"
	RateLimited     Kind = "RATE_LIMITED"
	// Unavailable is a failure of the database or of the server's capacity (unreachable,
	// timed out, overloaded, out of disk), not of the request: safe to retry after a while.
	Unavailable Kind = "UNAVAILABLE"
	Internal    Kind = "INTERNAL"
)

// Error is an error of a known kind whose Message is safe to show to the client.
type Error struct {
	Kind    Kind
	Message string
	// Field names the input field at fault, for BAD_USER_INPUT.
	Field string
	// RetryAfter hints when a RATE_LIMITED or UNAVAILABLE request may be tried again.
	RetryAfter time.Duration
	// Err is the underlying cause; it is logged, never shown.
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Is lets errors.Is(err, errs.ErrNotFound) match any *Error of the same kind.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Message == "" && t.Kind == e.Kind
}

// Sentinels for errors.Is. Each matches every error of its kind.
var (
	ErrUnauthenticated = &Error{Kind: Unauthenticated}
	ErrForbidden       = &Error{Kind: Forbidden}
	ErrNotFound        = &Error{Kind: NotFound}
	ErrBadUserInput    = &Error{Kind: BadUserInput}
	ErrConflict        = &Error{Kind: Conflict}
	ErrRateLimited     = &Error{Kind: RateLimited}
	ErrUnavailable     = &Error{Kind: Unavailable}
)

// New returns an error of kind k with a client-safe message.
func New(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an error of kind k with a client-safe message and a logged cause.
func Wrap(k Kind, cause error, format string, args ...any) *Error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, args...), Err: cause}
}

// Invalid reports bad input in the named field.
func Invalid(field, format string, args ...any) *Error {
	return &Error{Kind: BadUserInput, Field: field, Message: fmt.Sprintf(format, args...)}
}

// NotFoundf is the one message used for anything the caller may not see, so that a denied
// object and a random id are answered alike.
func NotFoundf(what string) *Error {
	return &Error{Kind: NotFound, Message: what + " not found"}
}

// KindOf returns the kind of err, or Internal when it carries none.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// As returns the *Error inside err, if any.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
