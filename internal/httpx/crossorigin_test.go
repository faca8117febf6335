package httpx

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

var okHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	_, _ = w.Write([]byte("ok"))
})

func TestCrossOrigin(t *testing.T) {
	mw, err := CrossOrigin([]string{"https://app.laatu.example"})
	if err != nil {
		t.Fatal(err)
	}
	h := mw(okHandler)
	tests := []struct {
		name    string
		method  string
		headers map[string]string
		want    int
	}{
		{"cross-site POST by Sec-Fetch-Site", "POST", map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"same-site POST by Sec-Fetch-Site is still cross-origin", "POST", map[string]string{"Sec-Fetch-Site": "same-site"}, 403},
		{"cross-site POST by Origin only", "POST", map[string]string{"Origin": "https://evil.example"}, 403},
		{"cross-site PUT", "PUT", map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"same-origin POST", "POST", map[string]string{"Sec-Fetch-Site": "same-origin"}, 200},
		{"Origin matching Host", "POST", map[string]string{"Origin": "http://api.laatu.example"}, 200},
		{"trusted origin", "POST", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://app.laatu.example"}, 200},
		{"non-browser client", "POST", nil, 200},
		{"user-initiated navigation", "POST", map[string]string{"Sec-Fetch-Site": "none"}, 200},
		{"cross-site GET is safe", "GET", map[string]string{"Sec-Fetch-Site": "cross-site"}, 200},
		{"cross-site OPTIONS is safe", "OPTIONS", map[string]string{"Sec-Fetch-Site": "cross-site"}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, "http://api.laatu.example/graphql", strings.NewReader("{}"))
			for k, v := range tt.headers {
				r.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			if rec.Code != tt.want {
				t.Fatalf("status = %d, want %d", rec.Code, tt.want)
			}
			if tt.want == 403 {
				want := `{"errors":[{"message":"cross-origin request refused","extensions":{"code":"FORBIDDEN"}}]}`
				if rec.Body.String() != want || rec.Header().Get("Content-Type") != JSONContentType {
					t.Errorf("body = %s (%s)", rec.Body.String(), rec.Header().Get("Content-Type"))
				}
			}
		})
	}
}

func TestCrossOriginBadConfig(t *testing.T) {
	for _, o := range []string{"app.laatu.example", "https://app.laatu.example/path", "://x"} {
		if _, err := CrossOrigin([]string{o}); err == nil {
			t.Errorf("CrossOrigin(%q) accepted an invalid origin", o)
		}
	}
}

func TestGraphQLMethodGuard(t *testing.T) {
	h := GraphQLMethodGuard(okHandler)
	tests := []struct {
		method      string
		contentType string
		want        int
	}{
		{"GET", "", 200},
		{"OPTIONS", "", 200},
		{"POST", "application/json", 200},
		{"POST", "application/json; charset=utf-8", 200},
		{"POST", "Application/JSON", 200},
		// What an HTML form can send across sites without a preflight:
		{"POST", "application/x-www-form-urlencoded", 415},
		{"POST", "multipart/form-data; boundary=x", 415},
		{"POST", "text/plain", 415},
		{"POST", "", 415},
		{"POST", "application/graphql", 415},
		{"POST", "application/json-seq", 415},
		{"POST", "garbage;;", 415},
		{"PUT", "application/json", 405},
		{"DELETE", "", 405},
		{"PATCH", "application/json", 405},
		{"HEAD", "", 405},
		{"TRACE", "", 405},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.contentType, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, "/graphql", strings.NewReader(`{"query":"{__typename}"}`))
			if tt.contentType != "" {
				r.Header.Set("Content-Type", tt.contentType)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			if rec.Code != tt.want {
				t.Fatalf("status = %d, want %d", rec.Code, tt.want)
			}
			switch tt.want {
			case 405:
				if rec.Header().Get("Allow") != "GET, POST, OPTIONS" {
					t.Errorf("Allow = %q", rec.Header().Get("Allow"))
				}
				fallthrough
			case 415:
				if !strings.Contains(rec.Body.String(), `"code":"BAD_USER_INPUT"`) {
					t.Errorf("body = %s", rec.Body.String())
				}
			}
		})
	}
}

// TestCORS: the listed origin gets a cacheable preflight naming the headers GraphQL clients
// send and an Allow-Origin on its responses; any other origin, and every origin when none is
// listed, gets no CORS header; and CrossOrigin behind it still refuses the unlisted origin.
func TestCORS(t *testing.T) {
	const app, evil = "https://app.laatu.example", "https://evil.example"
	co, err := CrossOrigin([]string{app})
	if err != nil {
		t.Fatal(err)
	}
	listed := Chain(okHandler, CORS([]string{app}), co)
	none := Chain(okHandler, CORS(nil))
	do := func(h http.Handler, method, origin string, headers ...string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, "http://api.laatu.example/graphql", strings.NewReader("{}"))
		r.Header.Set("Origin", origin)
		r.Header.Set("Sec-Fetch-Site", "cross-site")
		for i := 0; i+1 < len(headers); i += 2 {
			r.Header.Set(headers[i], headers[i+1])
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	preflight := []string{"Access-Control-Request-Method", "POST",
		"Access-Control-Request-Headers", "apollo-require-preflight,authorization,content-type,x-company-id"} // sorted, as browsers send it

	w := do(listed, "OPTIONS", app, preflight...)
	if w.Code != http.StatusNoContent || w.Header().Get("Access-Control-Allow-Origin") != app ||
		w.Header().Get("Access-Control-Max-Age") != "7200" ||
		!strings.Contains(strings.ToLower(w.Header().Get("Access-Control-Allow-Headers")), "x-company-id") ||
		w.Header().Get("Access-Control-Allow-Credentials") != "" {
		t.Errorf("preflight from the listed origin: %d %v", w.Code, w.Header())
	}
	if !strings.Contains(strings.Join(w.Header().Values("Vary"), ","), "Origin") {
		t.Errorf("preflight without Vary: Origin: %v", w.Header())
	}
	w = do(listed, "POST", app, "Content-Type", "application/json")
	if w.Code != 200 || w.Header().Get("Access-Control-Allow-Origin") != app ||
		w.Header().Get("Access-Control-Expose-Headers") != "X-Request-Id" {
		t.Errorf("POST from the listed origin: %d %v", w.Code, w.Header())
	}
	for name, w := range map[string]*httptest.ResponseRecorder{
		"preflight from another origin": do(listed, "OPTIONS", evil, preflight...),
		"POST from another origin":      do(listed, "POST", evil),
		"preflight with none listed":    do(none, "OPTIONS", app, preflight...),
		"wildcard-looking origin":       do(Chain(okHandler, CORS([]string{"*"})), "OPTIONS", evil, preflight...),
	} {
		if got := w.Header().Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("%s: Access-Control-Allow-Origin %q", name, got)
		}
		if !strings.Contains(strings.Join(w.Header().Values("Vary"), ","), "Origin") {
			t.Errorf("%s: no Vary: Origin: %v", name, w.Header())
		}
	}
	if w := do(listed, "POST", evil); w.Code != http.StatusForbidden {
		t.Errorf("POST from an unlisted origin: %d, want 403", w.Code)
	}
	if w := do(none, "GET", "", "Sec-Fetch-Site", "same-origin"); !strings.Contains(strings.Join(w.Header().Values("Vary"), ","), "Origin") {
		t.Errorf("a response to a request without Origin may be cached for one with it: %v", w.Header())
	}
}
