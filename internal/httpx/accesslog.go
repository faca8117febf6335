package httpx

import (
	"net/http"
	"time"

	"github.com/rs/zerolog"
)

// maxLoggedPathLen bounds the logged path: it is chosen by the client.
const maxLoggedPathLen = 256

// AccessLog puts a request-scoped logger (logger with request_id) in the context, where
// zerolog.Ctx finds it, and writes one line per request when the handler returns:
// request_id, method, path, status, bytes, duration_ms, client_ip and, when the GraphQL
// layer set them, operation_name, operation_type and user_id. WebSocket connections are
// logged when their handler returns, with hijacked=true; a handler that panicked past it
// is logged with aborted=true.
//
// The line never holds headers, bodies or the query string (any of which may carry
// tokens, cookies or personal data). Place AccessLog inside Identify to get the request
// id, client IP and operation annotations.
func AccessLog(logger zerolog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx := r.Context()
			info, hasInfo := FromContext(ctx)
			if !hasInfo {
				info.Start = time.Now()
			}
			l := logger
			if info.ID != "" {
				l = logger.With().Str("request_id", info.ID).Logger()
			}
			ann := AnnotationsFromContext(ctx)
			if ann == nil {
				ann = &Annotations{}
				ctx = NewAnnotationsContext(ctx, ann)
			}
			ctx = l.WithContext(ctx)

			rw := wrapWriter(w)
			completed := false
			defer func() {
				// Deferred without recover so a panic keeps its stack on its way up.
				status := rw.statusOrDefault()
				if !completed && !rw.wroteHeader {
					status = 0 // net/http drops the connection: the client got no response
				}
				ev := l.Info().
					Str("method", r.Method).
					Str("path", truncate(r.URL.Path, maxLoggedPathLen)).
					Int("status", status).
					Int64("bytes", rw.bytes).
					Float64("duration_ms", float64(time.Since(info.Start).Microseconds())/1000)
				if info.ClientIP.IsValid() {
					ev = ev.Str("client_ip", info.ClientIP.String())
				}
				if v := ann.OperationName(); v != "" {
					ev = ev.Str("operation_name", v)
				}
				if v := ann.OperationType(); v != "" {
					ev = ev.Str("operation_type", v)
				}
				if v := ann.UserID(); v != "" {
					ev = ev.Str("user_id", v)
				}
				if rw.hijacked {
					ev = ev.Bool("hijacked", true)
				}
				if !completed {
					ev = ev.Bool("aborted", true)
				}
				ev.Msg("request")
			}()
			next.ServeHTTP(rw, r.WithContext(ctx))
			completed = true
		})
	}
}
