package httpx

import (
	"fmt"
	"mime"
	"net/http"

	"github.com/rs/cors"

	"github.com/laatu/laatu/internal/errs"
)

// CrossOrigin refuses unsafe (non GET, HEAD, OPTIONS) cross-origin browser requests with a
// 403 JSON error, using http.CrossOriginProtection: a request is cross-origin when its
// Sec-Fetch-Site header says so, or when its Origin does not match its Host. Requests from
// trustedOrigins ("https://app.example.com", scheme://host[:port] exactly) are allowed.
//
// WebSocket upgrades are GET requests and pass here; the WebSocket acceptor must check
// their Origin itself (coder/websocket does by default; give it the same origins).
func CrossOrigin(trustedOrigins []string) (func(http.Handler) http.Handler, error) {
	cop := http.NewCrossOriginProtection()
	for _, o := range trustedOrigins {
		if err := cop.AddTrustedOrigin(o); err != nil {
			return nil, fmt.Errorf("httpx: trusted origin %q: %w", o, err)
		}
	}
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		WriteJSONError(w, http.StatusForbidden, errs.Forbidden, "cross-origin request refused")
	}))
	return cop.Handler, nil
}

// GraphQLMethodGuard wraps the GraphQL endpoint. It answers 405 to any method but GET,
// POST and OPTIONS, and 415 to a POST whose Content-Type is not application/json. HTML
// forms can send only application/x-www-form-urlencoded, multipart/form-data and
// text/plain without a CORS preflight, so this refuses every form-based cross-site request
// even from a browser that sends neither Sec-Fetch-Site nor Origin. (Server-sent events are
// chosen by the Accept header; their POST body is application/json too.)
//
// Mutations over GET are refused by gqlgen's GET transport itself.
func GraphQLMethodGuard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodOptions:
		case http.MethodPost:
			mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
			if err != nil || mt != "application/json" {
				WriteJSONError(w, http.StatusUnsupportedMediaType, errs.BadUserInput,
					"content type must be application/json")
				return
			}
		default:
			w.Header().Set("Allow", "GET, POST, OPTIONS")
			WriteJSONError(w, http.StatusMethodNotAllowed, errs.BadUserInput, "method not allowed")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// CORSMaxAge is how long a browser may cache a preflight's answer, in seconds: Chromium's
// own cap (two hours), so that a web app pays one preflight per endpoint and header set.
const CORSMaxAge = 7200

// CORS answers the CORS protocol for the origins allowed (exact scheme://host[:port], no
// wildcard): preflights get 204 with the methods and the headers GraphQL clients send,
// cached for CORSMaxAge; responses to an allowed origin name it in
// Access-Control-Allow-Origin and expose X-Request-ID; every response carries Vary: Origin. It
// grants nothing by itself: CrossOrigin, after it, still refuses an unsafe request from an
// origin that is not listed. No credentials mode: Laatu's sessions are bearer tokens sent in
// the Authorization header, never cookies, so a browser has none to attach.
func CORS(allowedOrigins []string) func(http.Handler) http.Handler {
	// An exact set, checked by a function: rs/cors reads an empty list as "every origin" and
	// would match "*" and "https://*.example.com" patterns.
	allowed := make(map[string]bool, len(allowedOrigins))
	for _, o := range allowedOrigins {
		allowed[o] = true
	}
	c := cors.New(cors.Options{
		AllowOriginFunc: func(origin string) bool { return allowed[origin] },
		AllowedMethods:  []string{http.MethodGet, http.MethodPost},
		AllowedHeaders: []string{
			"Authorization", "Content-Type", "Accept", "X-Company-ID",
			// SSE reconnects; Apollo Client's CSRF-prevention and client-identification headers.
			"Last-Event-ID", "Apollo-Require-Preflight", "X-Apollo-Operation-Name",
			"Apollographql-Client-Name", "Apollographql-Client-Version",
		},
		ExposedHeaders:       []string{"X-Request-ID"},
		MaxAge:               CORSMaxAge,
		OptionsSuccessStatus: http.StatusNoContent,
	})
	return c.Handler
}
