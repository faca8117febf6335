package httpx

import (
	"errors"
	"net/http"

	"github.com/laatu/laatu/internal/errs"
)

// MaxBytes limits request bodies to n bytes. A request that declares a longer
// Content-Length is refused at once with 413; a longer body of unknown length makes reads
// fail with *http.MaxBytesError, which the handler detects with IsBodyTooLarge and answers
// with WriteBodyTooLarge.
func MaxBytes(n int64) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.ContentLength > n {
				WriteBodyTooLarge(w)
				return
			}
			if r.Body != nil && r.Body != http.NoBody {
				// MaxBytesReader tells the server to close the connection after an
				// oversized body, but only when given net/http's own writer.
				r.Body = http.MaxBytesReader(innermost(w), r.Body, n)
			}
			next.ServeHTTP(w, r)
		})
	}
}

// IsBodyTooLarge reports whether err comes from reading a body past the MaxBytes limit.
func IsBodyTooLarge(err error) bool {
	var mbe *http.MaxBytesError
	return errors.As(err, &mbe)
}

// WriteBodyTooLarge answers 413 with code BAD_USER_INPUT.
func WriteBodyTooLarge(w http.ResponseWriter) {
	WriteJSONError(w, http.StatusRequestEntityTooLarge, errs.BadUserInput, "request body too large")
}

// innermost follows Unwrap to the writer net/http created.
func innermost(w http.ResponseWriter) http.ResponseWriter {
	for {
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return w
		}
		w = u.Unwrap()
	}
}
