package httpx

import (
	"fmt"
	"net/http"
	"runtime/debug"

	"github.com/rs/zerolog"

	"github.com/laatu/laatu/internal/errs"
)

// Recover turns a panic in a handler into a logged error (with stack, through the request
// logger of zerolog.Ctx, so with the request id when placed inside AccessLog) and a generic
// 500 JSON answer. The panic value never reaches the client.
//
// http.ErrAbortHandler is re-panicked: it is how a handler asks net/http to drop the
// connection quietly. When the response had already started, a 500 can no longer be sent,
// so Recover aborts the connection the same way rather than let a truncated response look
// complete.
func Recover(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rw := wrapWriter(w)
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			zerolog.Ctx(r.Context()).Error().
				Str("panic", fmt.Sprint(v)).
				Bytes("stack", debug.Stack()).
				Str("method", r.Method).
				Str("path", truncate(r.URL.Path, maxLoggedPathLen)).
				Msg("handler panicked")
			if rw.wroteHeader || rw.hijacked {
				panic(http.ErrAbortHandler)
			}
			WriteJSONError(rw, http.StatusInternalServerError, errs.Internal, "internal server error")
		}()
		next.ServeHTTP(rw, r)
	})
}
