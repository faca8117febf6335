//go:build faults

package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/laatu/laatu/internal/database"
)

// laatuBin is the server binary, built once by TestMain.
var laatuBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "laatu-faults-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	laatuBin = filepath.Join(dir, "laatu")
	build := exec.Command("go", "build", "-o", laatuBin, "github.com/laatu/laatu")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build laatu:", err)
		_ = os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// prepare migrates the cluster's database with the project's migrations, grants the server's
// role, and loads the demo data through the binary (`seed --demo`, dev mode), so that its
// creation is audited exactly as in production.
func prepare(t *testing.T, c *cluster) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	owner, err := database.Open(ctx, c.ownerURL(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close()
	if _, err := owner.MigrateUp(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	if err := owner.GrantServerRole(ctx, c.appURL()); err != nil {
		t.Fatalf("grant server role: %v", err)
	}
	cmd := exec.CommandContext(ctx, laatuBin, "seed", "--demo", "--mode", "dev", "--audit-log", "off",
		"--database-url", c.appURL(), "--admin-database-url", c.ownerURL())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("seed --demo: %v\n%s", err, out)
	}
}

// server is the Laatu binary running as a child in a process group of its own.
type server struct {
	t       *testing.T
	c       *cluster
	port    int
	timeout time.Duration // --request-timeout
	cmd     *exec.Cmd
	done    chan struct{}
	log     string
	base    string
}

// startServer starts `laatu serve --mode prod` over the cluster and waits for /readyz.
// The same port is kept across restarts, so clients keep their URL.
func startServer(t *testing.T, c *cluster, timeout time.Duration) *server {
	t.Helper()
	s := &server{t: t, c: c, port: freePort(t), timeout: timeout, log: filepath.Join(t.TempDir(), "laatu.log")}
	s.base = fmt.Sprintf("http://127.0.0.1:%d", s.port)
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *server) start() {
	t := s.t
	t.Helper()
	f, err := os.OpenFile(s.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Rate limits off and in-flight caps above the load: the harness measures faults, not limits.
	// Plain HTTP on loopback, as behind a TLS-terminating proxy (prod refuses it otherwise).
	s.cmd = exec.Command(laatuBin, "serve", "--mode", "prod", "--addr", fmt.Sprintf("127.0.0.1:%d", s.port),
		"--tls-terminated-by-proxy", "--trusted-proxies", "127.0.0.1/32",
		"--database-url", s.c.appURL(), "--admin-database-url", s.c.ownerURL(), "--auto-migrate=false",
		"--admin-addr", "off", "--audit-log", "off", "--log-level", "warn",
		"--request-timeout", s.timeout.String(),
		"--rate-limit-user", "0", "--rate-limit-company", "0", "--rate-limit-ip", "0",
		"--max-in-flight", "256", "--max-in-flight-per-company", "256")
	s.cmd.Stdout, s.cmd.Stderr = f, f
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	s.done = done
	go func(cmd *exec.Cmd) { _ = cmd.Wait(); close(done) }(s.cmd)
	if _, err := s.waitReady(3 * time.Minute); err != nil {
		t.Fatalf("server not ready: %v\n%s", err, s.logTail())
	}
}

// exited reports whether the running server process has ended.
func (s *server) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// waitReady polls /readyz until it answers 200, and returns how long that took.
func (s *server) waitReady(within time.Duration) (time.Duration, error) {
	start := time.Now()
	cl := &http.Client{Timeout: 5 * time.Second}
	deadline := start.Add(within)
	var last string
	for time.Now().Before(deadline) {
		if s.exited() {
			return 0, fmt.Errorf("server exited")
		}
		res, err := cl.Get(s.base + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return time.Since(start), nil
			}
			last = res.Status
		} else {
			last = err.Error()
		}
		time.Sleep(25 * time.Millisecond)
	}
	return 0, fmt.Errorf("/readyz not 200 within %v (last: %s)", within, last)
}

// kill SIGKILLs the server's process group (only the group this test started, while its
// leader has not been reaped, so a reused PID is never signalled) and waits for it.
func (s *server) kill() {
	if s.exited() {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.done
}

// stop ends the server: SIGTERM, then SIGKILL after 15 s.
func (s *server) stop() {
	if s.exited() {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
		s.kill()
	}
}

func (s *server) logTail() string {
	b, _ := os.ReadFile(s.log)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// gqlResult is a GraphQL answer as the harness reads it.
type gqlResult struct {
	Data   json.RawMessage `json:"data"`
	Errors []struct {
		Message    string         `json:"message"`
		Extensions map[string]any `json:"extensions"`
	} `json:"errors"`
	Extensions map[string]any `json:"extensions"`
}

// post sends one GraphQL request; err is a transport failure or an unreadable answer.
func post(ctx context.Context, cl *http.Client, url, token, key, query string, vars map[string]any) (int, *gqlResult, error) {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/graphql", bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	res, err := cl.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	var r gqlResult
	if err := json.NewDecoder(res.Body).Decode(&r); err != nil {
		return res.StatusCode, nil, err
	}
	return res.StatusCode, &r, nil
}
