package httpx

import (
	"net/http"
	"slices"
)

// SecurityOptions configures SecurityHeaders.
type SecurityOptions struct {
	// HSTS sends Strict-Transport-Security. Set it only when clients reach the server over
	// HTTPS, directly or through a TLS-terminating proxy: browsers then refuse plain HTTP
	// to the host and its subdomains for two years (Mozilla's recommendation).
	HSTS bool
	// FrameablePaths are paths served without X-Frame-Options: DENY, such as the GraphiQL
	// page at "/", which is an ordinary page that documentation may embed. Exact matches.
	FrameablePaths []string
}

// SecurityHeaders sets on every response: X-Content-Type-Options: nosniff (no JSON answer
// is ever sniffed as HTML or script), Referrer-Policy: no-referrer, X-Frame-Options: DENY
// (no clickjacking of anything served) outside FrameablePaths, and
// Strict-Transport-Security when opts.HSTS is set.
func SecurityHeaders(opts SecurityOptions) func(http.Handler) http.Handler {
	frameable := slices.Clone(opts.FrameablePaths)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("Referrer-Policy", "no-referrer")
			if !slices.Contains(frameable, r.URL.Path) {
				h.Set("X-Frame-Options", "DENY")
			}
			if opts.HSTS {
				h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
			}
			next.ServeHTTP(w, r)
		})
	}
}
