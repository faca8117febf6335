package httpx

import (
	"net/http"
	"time"

	"github.com/google/uuid"
)

// RequestIDHeader carries the request id in both directions.
const RequestIDHeader = "X-Request-ID"

// maxUserAgentLen bounds the User-Agent kept for audit events.
const maxUserAgentLen = 512

// Identify gives each request its RequestInfo (id, client IP by proxies, user agent, start
// time) and an empty Annotations in the context, and echoes the id in the X-Request-ID
// response header.
//
// An incoming X-Request-ID is kept only from a trusted proxy (which correlates its logs with
// ours) and only when it is 1–64 characters of [A-Za-z0-9._-]: request ids go into the audit
// log, and a client must not be able to make its requests look like someone else's. Anything
// else gets a fresh UUIDv7 (time-ordered, so ids sort roughly by arrival).
func Identify(proxies TrustedProxies) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			info := RequestInfo{
				ID:        requestID(proxies.incomingID(r)),
				ClientIP:  proxies.ClientIP(r),
				UserAgent: truncate(r.UserAgent(), maxUserAgentLen),
				Start:     time.Now(),
			}
			w.Header().Set(RequestIDHeader, info.ID)
			ctx := NewContext(r.Context(), info)
			ctx = NewAnnotationsContext(ctx, &Annotations{})
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}

// requestID returns incoming when it is safe to log and echo, else a new UUIDv7.
func requestID(incoming string) string {
	if validRequestID(incoming) {
		return incoming
	}
	// NewV7 fails only when crypto/rand does, which since Go 1.24 crashes the process
	// instead of returning an error.
	return uuid.Must(uuid.NewV7()).String()
}

func validRequestID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// incomingID returns the request id sent by the direct peer when that peer is a trusted proxy.
func (tp TrustedProxies) incomingID(r *http.Request) string {
	if peer := parseAddr(r.RemoteAddr); peer.IsValid() && tp.Contains(peer) {
		return r.Header.Get(RequestIDHeader)
	}
	return ""
}
