package httpx

import (
	"fmt"
	"mime"
	"net/http"

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
