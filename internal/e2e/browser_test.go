package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/laatu/laatu/internal/config"
	"github.com/laatu/laatu/internal/seed"
	"github.com/laatu/laatu/internal/testserver"
)

// browserPage runs a web app on its own loopback port, as a Vite or React dev server would:
// its page logs in and queries the API on another origin with fetch, then posts what
// happened back to its own origin.
const browserPage = `<!doctype html><title>app</title><script>
const api = %q;
async function run() {
  const gql = async (query, token) => {
    const headers = {"Content-Type": "application/json", "X-Company-ID": %q};
    if (token) headers.Authorization = "Bearer " + token;
    const r = await fetch(api, {method: "POST", headers, body: JSON.stringify({query})});
    return {body: await r.json(), requestId: r.headers.get("X-Request-ID")};
  };
  try {
    const login = await gql('mutation { login(email: "manager@acme.test", password: %q) { token } }');
    const docs = await gql("{ documents(first: 3) { totalCount } }", login.body.data.login.token);
    return {ok: true, totalCount: docs.body.data.documents.totalCount, requestId: docs.requestId};
  } catch (e) {
    return {ok: false, error: String(e)};
  }
}
run().then(v => fetch("/result", {method: "POST", body: JSON.stringify(v)}));
</script>`

type browserResult struct {
	OK         bool
	TotalCount int
	RequestID  string
	Error      string
}

// TestBrowserAppOnAnotherOrigin drives headless Chromium (Debian's chromium package; .ci/run
// installs it): a page served from an origin listed in --allowed-origins logs in and queries
// over CORS (with the preflight that JSON, Authorization and X-Company-ID cause), and reads
// the exposed X-Request-ID; the same page from an unlisted origin is refused by the browser.
func TestBrowserAppOnAnotherOrigin(t *testing.T) {
	chromium := findChromium(t)
	var apiURL atomic.Value
	results := make(chan browserResult, 1)
	var company atomic.Value
	newPage := func() *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPost && r.URL.Path == "/result" {
				var res browserResult
				b, _ := io.ReadAll(r.Body)
				if err := json.Unmarshal(b, &res); err != nil {
					res.Error = fmt.Sprintf("bad result %q: %v", b, err)
				}
				select {
				case results <- res:
				default:
				}
				return
			}
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprintf(w, browserPage, apiURL.Load().(string)+"/graphql", company.Load().(string), seed.Password)
		}))
	}
	listed, unlisted := newPage(), newPage()
	defer listed.Close()
	defer unlisted.Close()
	s := testserver.New(t, func(c *config.Config) { c.AllowedOrigins = []string{listed.URL} })
	apiURL.Store(s.URL)
	company.Store(s.Demo.Companies["Acme Construction"])

	got := browse(t, chromium, listed.URL, results)
	if !got.OK || got.TotalCount == 0 || got.RequestID == "" {
		t.Errorf("the app on the listed origin %s: %+v", listed.URL, got)
	}
	got = browse(t, chromium, unlisted.URL, results)
	if got.OK || got.Error == "" {
		t.Errorf("the app on the unlisted origin %s was let through: %+v", unlisted.URL, got)
	}
}

// browse opens url in headless Chromium and returns what its page reported.
func browse(t *testing.T, chromium, url string, results <-chan browserResult) browserResult {
	t.Helper()
	cmd := exec.Command(chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--no-first-run", "--no-default-browser-check", "--disable-extensions", "--user-data-dir="+t.TempDir(), url)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its helpers die with it
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // the group this test started
		<-exited
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	select {
	case res := <-results:
		return res
	case err := <-exited:
		t.Fatalf("chromium exited before the page reported: %v", err)
	case <-ctx.Done():
		t.Fatalf("the page at %s reported nothing in time", url)
	}
	return browserResult{}
}

// findChromium returns Debian's chromium, or skips the test where it is missing; in CI
// (LAATU_CI set by .ci/run, which installs it) a missing browser fails.
func findChromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("LAATU_CI") != "" {
		t.Fatal("chromium is not installed (apt-get install -y chromium)")
	}
	t.Skip("chromium is not installed (apt-get install -y chromium); .ci/run installs it")
	return ""
}
