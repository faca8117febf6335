package e2e

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/laatu/laatu/internal/testserver"
)

// TestPlaygroundOffline loads the playground in headless Chromium with every host name
// unresolvable except the loopback test server, as on a machine without internet: GraphiQL
// renders from the embedded bundles, introspects the schema (the docs explorer lists Query),
// and the browser reports no Content-Security-Policy violation.
func TestPlaygroundOffline(t *testing.T) {
	chromium := findChromium(t)
	s := testserver.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var dom string
	var stderr bytes.Buffer
	// The page renders asynchronously after introspection; retry with a longer virtual-time
	// budget rather than trust one window on a busy machine.
	for _, budget := range []string{"15000", "60000"} {
		stderr.Reset()
		cmd := exec.CommandContext(ctx, chromium, "--headless=new", "--no-sandbox", "--disable-gpu",
			"--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check", "--disable-extensions",
			"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", "--enable-logging=stderr", "--v=0",
			"--user-data-dir="+t.TempDir(), "--virtual-time-budget="+budget, "--dump-dom", s.URL+"/#docs")
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("chromium: %v\n%s", err, stderr.String())
		}
		dom = string(out)
		if strings.Contains(dom, "graphiql-doc-explorer") && strings.Contains(dom, ">Query<") {
			break
		}
	}
	for _, want := range []string{`class="graphiql-container"`, "graphiql-doc-explorer", ">Query<", `id="laatu-login"`} {
		if !strings.Contains(dom, want) {
			t.Errorf("the rendered page lacks %s:\n%.3000s\nchromium: %.3000s", want, dom, stderr.String())
		}
	}
	if strings.Contains(dom, ">Loading…<") {
		t.Error("the page still says Loading…")
	}
	if strings.Contains(stderr.String(), "Content Security Policy") {
		t.Errorf("the browser reported CSP violations:\n%s", stderr.String())
	}
}
