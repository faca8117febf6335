package httpx

import (
	"context"
	"net/http"
	"time"

	"github.com/rs/zerolog"
)

// readyTimeout bounds a readiness probe, so a stuck database makes the instance unready
// instead of hanging the probe.
const readyTimeout = 2 * time.Second

// Healthz answers 200 {"status":"ok"} while the process serves HTTP (liveness).
func Healthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeStatus(w, http.StatusOK, `{"status":"ok"}`)
	})
}

// Readyz answers 200 {"status":"ok"} when ping succeeds within 2 seconds (its context
// carries that deadline), else 503
// {"status":"unavailable"} (readiness: take the instance out of the load balancer). The
// ping error is logged, never sent.
func Readyz(ping func(ctx context.Context) error) http.Handler {
	return readyz(ping, readyTimeout)
}

func readyz(ping func(ctx context.Context) error, timeout time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		// A ping that ignores its context must not hang the probe: answer at the deadline
		// and let the ping finish on its own.
		done := make(chan error, 1)
		go func() { done <- ping(ctx) }()
		var err error
		select {
		case err = <-done:
		case <-ctx.Done():
			err = ctx.Err()
		}
		if err != nil {
			zerolog.Ctx(r.Context()).Warn().Err(err).Msg("readiness check failed")
			writeStatus(w, http.StatusServiceUnavailable, `{"status":"unavailable"}`)
			return
		}
		writeStatus(w, http.StatusOK, `{"status":"ok"}`)
	})
}

func writeStatus(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", JSONContentType)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}
