package httpx

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestSecurityHeaders(t *testing.T) {
	tests := []struct {
		name      string
		opts      SecurityOptions
		path      string
		wantFrame string
		wantHSTS  string
	}{
		{"API, no TLS", SecurityOptions{}, "/graphql", "DENY", ""},
		{"API over TLS", SecurityOptions{HSTS: true}, "/graphql", "DENY", "max-age=63072000; includeSubDomains"},
		{"playground exempt from DENY", SecurityOptions{FrameablePaths: []string{"/"}}, "/", "", ""},
		{"exemption is exact", SecurityOptions{FrameablePaths: []string{"/"}}, "/graphql", "DENY", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The headers must be on error answers too, written without the handler's help.
			h := SecurityHeaders(tt.opts)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.NotFound(w, r)
			}))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", tt.path, nil))
			got := rec.Result().Header
			if got.Get("X-Content-Type-Options") != "nosniff" || got.Get("Referrer-Policy") != "no-referrer" {
				t.Errorf("headers = %v", got)
			}
			if got.Get("X-Frame-Options") != tt.wantFrame {
				t.Errorf("X-Frame-Options = %q, want %q", got.Get("X-Frame-Options"), tt.wantFrame)
			}
			if got.Get("Strict-Transport-Security") != tt.wantHSTS {
				t.Errorf("Strict-Transport-Security = %q, want %q", got.Get("Strict-Transport-Security"), tt.wantHSTS)
			}
		})
	}
}
