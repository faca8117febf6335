package playground_test

import (
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/laatu/laatu/internal/playground"
)

func get(t *testing.T, h http.Handler, path string) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
	return w
}

// TestPageAndAssetsFromTheBinary: the page and every script and stylesheet it references are
// served from the embedded files, each with the CSP and its content type, and none of the
// files written here (page, bootstrap, styles) names another host.
func TestPageAndAssetsFromTheBinary(t *testing.T) {
	h := playground.Handler()
	page := get(t, h, "/")
	if page.Code != http.StatusOK {
		t.Fatalf("GET / = %d", page.Code)
	}
	checkHeaders(t, "/", page, "text/html")
	html := page.Body.String()
	if regexp.MustCompile(`(?i)<script>|<script [^>]*>[^<]|\son[a-z]+=|style=`).MatchString(html) {
		t.Errorf("the page has inline script, handlers or styles, which the CSP would block:\n%s", html)
	}
	refs := regexp.MustCompile(`(?:src|href)="([^"]+)"`).FindAllStringSubmatch(html, -1)
	if len(refs) < 8 {
		t.Fatalf("the page references %d files, want the 5 scripts and 3 stylesheets: %v", len(refs), refs)
	}
	want := map[string]string{".js": "text/javascript", ".css": "text/css"}
	for _, ref := range refs {
		path := ref[1]
		if !strings.HasPrefix(path, playground.AssetPrefix) {
			t.Errorf("the page references %q, outside %s", path, playground.AssetPrefix)
			continue
		}
		w := get(t, h, path)
		if w.Code != http.StatusOK || w.Body.Len() == 0 {
			t.Errorf("GET %s = %d with %d bytes", path, w.Code, w.Body.Len())
			continue
		}
		ext := path[strings.LastIndex(path, "."):]
		checkHeaders(t, path, w, want[ext])
	}
	for _, own := range []string{"/", playground.AssetPrefix + "laatu.js", playground.AssetPrefix + "laatu.css"} {
		if m := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}`).FindString(get(t, h, own).Body.String()); m != "" {
			t.Errorf("%s names another host: %q", own, m)
		}
	}
}

func checkHeaders(t *testing.T, path string, w *httptest.ResponseRecorder, contentType string) {
	t.Helper()
	if got := w.Header().Get("Content-Security-Policy"); got != playground.CSP {
		t.Errorf("%s: Content-Security-Policy %q", path, got)
	}
	mt, _, err := mime.ParseMediaType(w.Header().Get("Content-Type"))
	if err != nil || mt != contentType {
		t.Errorf("%s: Content-Type %q, want %s", path, w.Header().Get("Content-Type"), contentType)
	}
}

// TestNoListingsOrStrays: the asset prefix lists nothing and unknown files are 404.
func TestNoListingsOrStrays(t *testing.T) {
	h := playground.Handler()
	for _, path := range []string{playground.AssetPrefix, playground.AssetPrefix + "index.html", playground.AssetPrefix + "build.sh", playground.AssetPrefix + "nope.js"} {
		w := get(t, h, path)
		if w.Code != http.StatusNotFound {
			body, _ := io.ReadAll(w.Result().Body)
			t.Errorf("GET %s = %d, want 404: %.200s", path, w.Code, body)
		}
	}
}
