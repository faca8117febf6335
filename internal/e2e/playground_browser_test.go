package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/laatu/laatu/internal/seed"
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

// TestPlaygroundLoginAndFirstQuery drives the playground as a person would, network cut as
// above, through Chromium's DevTools protocol: log in with the page's form, run the README's
// first query (linked with ?query=), and read the answer from GraphiQL's result pane.
func TestPlaygroundLoginAndFirstQuery(t *testing.T) {
	chromium := findChromium(t)
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```graphql\n(.*?)```").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README.md has no graphql block")
	}
	query := string(m[1])
	s := testserver.New(t)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.Command(chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--no-first-run", "--no-default-browser-check", "--disable-extensions",
		"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", "--remote-debugging-port=0",
		"--user-data-dir="+t.TempDir(), s.URL+"/?query="+url.QueryEscape(query))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // the group this test started
		_ = cmd.Wait()
	}()
	devtools := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if _, rest, ok := strings.Cut(sc.Text(), "DevTools listening on "); ok {
				select {
				case devtools <- rest:
				default:
				}
			}
		}
	}()
	var browserWS string
	select {
	case browserWS = <-devtools:
	case <-ctx.Done():
		t.Fatal("chromium did not open its DevTools port")
	}
	u, err := url.Parse(browserWS)
	if err != nil {
		t.Fatal(err)
	}
	pageWS := pageTarget(ctx, t, u.Host)
	conn, _, err := websocket.Dial(ctx, pageWS, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	conn.SetReadLimit(16 << 20)

	script := fmt.Sprintf(`(async () => {
  const wait = async (f, what) => {
    for (const end = Date.now() + 120000; Date.now() < end; await new Promise(r => setTimeout(r, 100))) {
      const v = f(); if (v) return v;
    }
    throw new Error("timed out waiting for " + what);
  };
  await wait(() => document.querySelector(".graphiql-execute-button"), "GraphiQL to render");
  document.getElementById("laatu-email").value = %q;
  document.getElementById("laatu-password").value = %q;
  document.getElementById("laatu-login").requestSubmit();
  const status = document.getElementById("laatu-status");
  await wait(() => status.className === "error" || status.textContent.startsWith("Logged in"), "the login");
  if (status.className === "error") throw new Error("login: " + status.textContent);
  document.querySelector(".graphiql-execute-button").click();
  return await wait(() => {
    const cm = document.querySelector(".result-window .CodeMirror");
    const v = cm && cm.CodeMirror.getValue();
    return v && v.includes('"data"') ? v : "";
  }, "the answer");
})()`, "manager@acme.test", seed.Password)
	// The first evaluation may meet the blank page the browser starts on, whose context the
	// navigation then destroys; evaluate again until one runs on the playground itself.
	var answer string
	for id := 1; ; id++ {
		call, _ := json.Marshal(map[string]any{"id": id, "method": "Runtime.evaluate",
			"params": map[string]any{"expression": script, "awaitPromise": true, "returnByValue": true}})
		if err := conn.Write(ctx, websocket.MessageText, call); err != nil {
			t.Fatal(err)
		}
		var reply struct {
			ID     int
			Error  *struct{ Message string }
			Result struct {
				Result           struct{ Value any }
				ExceptionDetails *struct {
					Exception struct{ Description string }
				}
			}
		}
		for reply.ID != id {
			_, msg, err := conn.Read(ctx)
			if err != nil {
				t.Fatalf("reading DevTools: %v", err)
			}
			reply.ID = 0
			_ = json.Unmarshal(msg, &reply)
		}
		if reply.Error != nil {
			t.Logf("evaluation %d: %s", id, reply.Error.Message)
			select {
			case <-ctx.Done():
				t.Fatal("no evaluation ran on the playground")
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		if ex := reply.Result.ExceptionDetails; ex != nil {
			t.Fatalf("the page: %s", ex.Exception.Description)
		}
		answer, _ = reply.Result.Result.Value.(string)
		break
	}
	var body struct {
		Data struct {
			Viewer struct {
				User          struct{ Name string }
				ActiveCompany struct{ Name string }
			}
			Folders struct{ TotalCount int }
		}
		Errors []any
	}
	if err := json.Unmarshal([]byte(answer), &body); err != nil || len(body.Errors) > 0 ||
		body.Data.Viewer.User.Name == "" || body.Data.Viewer.ActiveCompany.Name != "Acme Construction" || body.Data.Folders.TotalCount == 0 {
		t.Errorf("the README's first query from the playground answered %v:\n%s", err, answer)
	}
}

// pageTarget returns the DevTools WebSocket of the browser's first page, polling until it is listed.
func pageTarget(ctx context.Context, t *testing.T, host string) string {
	t.Helper()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+host+"/json/list", nil)
		if res, err := http.DefaultClient.Do(req); err == nil {
			var targets []struct{ Type, WebSocketDebuggerURL string }
			err = json.NewDecoder(res.Body).Decode(&targets)
			res.Body.Close()
			for _, tg := range targets {
				if err == nil && tg.Type == "page" && tg.WebSocketDebuggerURL != "" {
					return tg.WebSocketDebuggerURL
				}
			}
		}
		select {
		case <-ctx.Done():
			t.Fatal("chromium listed no page")
		case <-time.After(100 * time.Millisecond):
		}
	}
}
