package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// laatu runs the command as a user would, with env as the whole environment.
func laatu(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = Run(context.Background(), args, func(k string) string { return env[k] }, &out, &errOut)
	return code, out.String(), errOut.String()
}

// TestHelp: help is a success and names every registered command and subcommand.
func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}} {
		code, out, errOut := laatu(t, nil, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d\n%s", args, code, errOut)
		}
		for _, c := range commands(&env{}) {
			if !strings.Contains(out, "\n   "+c.Name+" ") {
				t.Errorf("%v does not list %q:\n%s", args, c.Name, out)
			}
		}
		for _, typed := range []string{"--max-depth int", "--request-timeout duration", "--data-dir string", "[$DATABASE_URL]"} {
			if !strings.Contains(out, typed) {
				t.Errorf("%v does not show %q:\n%s", args, typed, out)
			}
		}
	}
	for _, c := range commands(&env{}) {
		code, out, errOut := laatu(t, nil, c.Name, "--help")
		if code != 0 || !strings.Contains(out, "laatu "+c.Name) {
			t.Errorf("%s --help: exit %d\n%s%s", c.Name, code, out, errOut)
		}
		for _, sub := range c.Commands {
			if !strings.Contains(out, sub.Name) {
				t.Errorf("%s --help does not list %s:\n%s", c.Name, sub.Name, out)
			}
		}
	}
}

// TestUsageErrors: a mistake on the command line exits 2 and changes nothing.
func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"bogus"}, {"seed"}, {"seed", "--", "--demo"}, {"seed", "--demo", "extra"}, {"--max-depth=deep"},
		{"migrate"}, {"migrate", "sideways"}, {"migrate", "down", "--to", "yesterday"},
		{"audit"}, {"audit", "bogus"}, {"audit", "export"}, {"audit", "prune", "--company", "x"},
		{"audit", "export", "--company", "x", "--from", "yesterday"}, {"audit", "verify", "extra"}, {"audit", "verify", "--nope"},
	} {
		code, _, errOut := laatu(t, nil, append(args, "--data-dir", dir)...)
		if code != 2 || !strings.Contains(errOut, "laatu help") {
			t.Errorf("%v: exit %d, want 2\n%s", args, code, errOut)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) > 0 {
		t.Errorf("usage errors created %v", entries)
	}
}

// TestStoreFlagsEverywhere: every command takes the store flags, before or after its name,
// from the environment too; the flag wins over the variable.
func TestStoreFlagsEverywhere(t *testing.T) {
	fromEnv, fromFlag := t.TempDir(), t.TempDir()
	env := map[string]string{"LAATU_DATA_DIR": fromEnv}
	if code, out, errOut := laatu(t, env, "migrate", "up"); code != 0 || !strings.Contains(out, "applied") {
		t.Fatalf("migrate up from the environment: %d %s%s", code, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(fromEnv, "laatu.db")); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := laatu(t, env, "--data-dir", fromFlag, "migrate", "up"); code != 0 {
		t.Fatalf("migrate up with the flag first: %d %s", code, errOut)
	}
	for _, args := range [][]string{
		{"migrate", "status", "--data-dir", fromFlag},
		{"audit", "verify", "--data-dir", fromFlag},
		{"seed", "--demo", "--data-dir", fromFlag, "--audit-log", "off"},
	} {
		if code, _, errOut := laatu(t, env, args...); code != 0 {
			t.Errorf("%v: exit %d\n%s", args, code, errOut)
		}
	}
	if code, out, _ := laatu(t, env, "audit", "verify"); code != 0 || !strings.Contains(out, "no audit events") {
		t.Errorf("the environment's data dir was seeded instead of the flag's: %d %s", code, out)
	}
	if code, _, errOut := laatu(t, map[string]string{"LAATU_MAX_DEPTH": "deep"}, "migrate", "status", "--data-dir", fromFlag); code == 0 {
		t.Errorf("a malformed variable was accepted:\n%s", errOut)
	}
}

// TestMigrateDown: nothing without --confirm; one step with it; all the way only with --to 0.
func TestMigrateDown(t *testing.T) {
	dir := t.TempDir()
	run := func(args ...string) (int, string, string) { return laatu(t, nil, append(args, "--data-dir", dir)...) }
	pending := func() int {
		_, out, _ := run("migrate", "status")
		return strings.Count(out, "pending")
	}
	if code, _, errOut := run("migrate", "up"); code != 0 {
		t.Fatal(errOut)
	}
	_, status, _ := run("migrate", "status")
	total := strings.Count(status, "applied")
	if code, _, errOut := run("migrate", "down"); code != 1 || !strings.Contains(errOut, "--confirm") || pending() != 0 {
		t.Fatalf("down without --confirm: exit %d, %d pending\n%s", code, pending(), errOut)
	}
	if code, out, _ := run("migrate", "down", "--confirm"); code != 0 || strings.Count(out, "rolled back") != 1 || pending() != 1 {
		t.Fatalf("down --confirm: exit %d, %d pending\n%s", code, pending(), out)
	}
	if code, out, _ := run("migrate", "down", "--to", "0", "--confirm"); code != 0 || pending() != total {
		t.Fatalf("down --to 0 --confirm: exit %d, %d of %d pending\n%s", code, pending(), total, out)
	}
	if code, out, _ := run("migrate", "down", "--confirm"); code != 0 || !strings.Contains(out, "nothing to roll back") {
		t.Fatalf("down on an empty schema: %d %s", code, out)
	}
	if code, _, _ := run("migrate", "up"); code != 0 || pending() != 0 {
		t.Fatal("migrate up after down")
	}
}

// TestServeRefusesClearly: a start that cannot work says why and shows no banner.
func TestServeRefusesClearly(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	dir := t.TempDir()
	for _, c := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"port taken", []string{"--addr", taken.Addr().String(), "--seed-demo=false"}, nil, "listen on --addr"},
		{"admin port taken", []string{"--addr", "127.0.0.1:0", "--admin-addr", taken.Addr().String(), "--seed-demo=false"}, nil, "listen on --admin-addr"},
		{"redis does not answer", []string{"--addr", "127.0.0.1:0", "--redis-url", "redis://127.0.0.1:1/0", "--seed-demo=false"}, nil, "--redis-url"},
		{"admin on the public port", []string{"--addr", "127.0.0.1:8999", "--admin-addr", "127.0.0.1:8999"}, nil, "--admin-addr must differ from --addr"},
		{"no TLS key file", []string{"--addr", "127.0.0.1:0", "--tls-cert", filepath.Join(dir, "none.pem"), "--tls-key", filepath.Join(dir, "none.key")}, nil, "--tls-cert"},
		{"embedded store in prod", []string{"--mode", "prod"}, nil, "--allow-embedded-store"},
		{"prod without TLS", []string{"--mode", "prod", "--allow-embedded-store", "--addr", "127.0.0.1:0"}, nil, "prod mode without TLS"},
		{"proxy's TLS without trusted proxies", []string{"--mode", "prod", "--allow-embedded-store", "--addr", "127.0.0.1:0", "--tls-terminated-by-proxy"}, nil, "--tls-terminated-by-proxy needs --trusted-proxies"},
		{"no owner to migrate", nil, map[string]string{"DATABASE_URL": "postgres://laatu_app@127.0.0.1:1/laatu"}, "DATABASE_ADMIN_URL"},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"serve", "--data-dir", filepath.Join(dir, c.name), "--audit-log", "off", "--log-level", "error", "--admin-addr", "off"}, c.args...)
			code, out, errOut := laatu(t, c.env, args...)
			if code != 1 || !strings.Contains(errOut, c.want) || strings.Contains(out+errOut, "Laatu is running") {
				t.Errorf("exit %d, want 1 and %q, no banner:\n%s%s", code, c.want, out, errOut)
			}
		})
	}
}

// TestSeedAuditedLikeServe: `laatu seed --demo` records the demo data's creation in the audit
// log exactly as serve's seeding does (same actions on the same kinds of objects), and by
// default in dev the audit stream goes to DATA_DIR/audit.jsonl, not to the terminal.
func TestSeedAuditedLikeServe(t *testing.T) {
	byCommand, byServe := t.TempDir(), t.TempDir()
	if code, _, errOut := laatu(t, nil, "migrate", "up", "--data-dir", byCommand); code != 0 {
		t.Fatal(errOut)
	}
	code, out, errOut := laatu(t, nil, "seed", "--demo", "--data-dir", byCommand)
	if code != 0 || out != "demo data loaded\n" {
		t.Fatalf("seed --demo: exit %d\n%s%s", code, out, errOut)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr := freeAddr(t)
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"--data-dir", byServe, "--addr", addr, "--log-level", "error", "--admin-addr", "off"}, func(string) string { return "" }, stdout, stderr)
	}()
	waitReady(t, "http://"+addr, done, stderr)
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("serve: exit %d\n%s", code, stderr.String())
	}
	if stdout.String() != "" {
		t.Errorf("serve in dev wrote to stdout:\n%s", stdout.String())
	}
	if !strings.Contains(stderr.String(), filepath.Join(byServe, "audit.jsonl")) {
		t.Errorf("the banner does not say where the audit stream goes:\n%s", stderr.String())
	}
	seeded, served := auditKinds(t, byCommand), auditKinds(t, byServe)
	if len(seeded) == 0 || !maps.Equal(seeded, served) {
		t.Errorf("seed --demo audited %v\nserve's seeding audited %v", seeded, served)
	}
}

// auditKinds counts the audit stream's events in dir by action and object type.
func auditKinds(t *testing.T, dir string) map[string]int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "audit.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var ev struct{ Action, ObjectType string }
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		kinds[ev.Action+" "+ev.ObjectType]++
	}
	return kinds
}

// waitReady polls /readyz until it answers 200, failing if serve ends first.
func waitReady(t *testing.T, base string, done <-chan int, stderr *syncBuffer) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	for deadline := time.Now().Add(3 * time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		select {
		case code := <-done:
			t.Fatalf("serve ended early with %d:\n%s", code, stderr.String())
		default:
		}
		if res, err := client.Get(base + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
	}
	t.Fatalf("%s not ready:\n%s", base, stderr.String())
}
