package api

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/99designs/gqlgen/graphql"

	"github.com/laatu/laatu/internal/errs"
	"github.com/laatu/laatu/internal/httpx"
)

// retryHint is where a response that failed as a whole for want of the database leaves its
// Retry-After, for unavailableStatus to turn into 503. One per HTTP request.
// A status, when set, replaces 200 (429 for an operation over its budget).
type retryHint struct {
	after  time.Duration
	status int
}

type retryHintKey struct{}

// markUnavailable records that resp failed as a whole (no data) with UNAVAILABLE, so that the
// HTTP answer is 503 with Retry-After. A response with data keeps 200 even when some of its
// fields are UNAVAILABLE: part of it was answered, and a client reads the codes per field.
func markUnavailable(ctx context.Context, resp *graphql.Response) {
	h, ok := ctx.Value(retryHintKey{}).(*retryHint)
	if !ok || resp == nil || (len(resp.Data) > 0 && string(resp.Data) != "null") {
		return
	}
	for _, e := range resp.Errors {
		if code, _ := e.Extensions["code"].(string); code == string(errs.Unavailable) {
			h.after = errs.RetryAfterUnavailable
			if s, ok := e.Extensions["retryAfterSeconds"].(int); ok && s > 0 {
				h.after = time.Duration(s) * time.Second
			}
			return
		}
	}
}

// markRateLimited records that the operation was refused for its budget: the HTTP answer is
// 429 with Retry-After (whole seconds, at least 1).
func markRateLimited(ctx context.Context, err error) {
	h, ok := ctx.Value(retryHintKey{}).(*retryHint)
	if !ok {
		return
	}
	h.status, h.after = http.StatusTooManyRequests, time.Second
	if e, ok := errs.As(err); ok && e.RetryAfter > h.after {
		h.after = e.RetryAfter
	}
}

// unavailableStatus answers 503 with Retry-After, in place of gqlgen's 200, the queries and
// mutations that failed as a whole with UNAVAILABLE (markUnavailable). Streams keep their
// own protocols' ways of failing.
func unavailableStatus(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isStream(r) {
			next.ServeHTTP(w, r)
			return
		}
		h := &retryHint{}
		sw := &statusWriter{ResponseWriter: w, hint: h}
		next.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), retryHintKey{}, h)))
	})
}

type statusWriter struct {
	http.ResponseWriter
	hint  *retryHint
	wrote bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.wrote = true
		if code == http.StatusOK && w.hint.after > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int((w.hint.after+time.Second-1)/time.Second)))
			code = http.StatusServiceUnavailable
			if w.hint.status != 0 {
				code = w.hint.status
			}
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// writeUnavailable answers 503 UNAVAILABLE with Retry-After outside gqlgen.
func writeUnavailable(w http.ResponseWriter, message string) {
	w.Header().Set("Retry-After", strconv.Itoa(int(errs.RetryAfterUnavailable/time.Second)))
	httpx.WriteJSONError(w, http.StatusServiceUnavailable, errs.Unavailable, message)
}
