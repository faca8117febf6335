package config

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestREADMETable keeps the README's configuration table in step with Settings.
func TestREADMETable(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	start, end := strings.Index(s, "<!-- config:begin -->\n"), strings.Index(s, "<!-- config:end -->")
	if start < 0 || end < start {
		t.Fatal("README.md has no config:begin/config:end markers")
	}
	got := s[start+len("<!-- config:begin -->\n") : end]
	if got != Markdown() {
		t.Errorf("README's configuration table is stale; replace it with the output of `go run . config`:\n%s", Markdown())
	}
}

func TestLoadPrecedence(t *testing.T) {
	env := map[string]string{"LAATU_ADDR": "127.0.0.1:9000", "LAATU_MAX_DEPTH": "7"}
	cfg, _, err := Load("t", []string{"--max-depth", "9"}, func(k string) string { return env[k] }, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "127.0.0.1:9000" || cfg.MaxDepth != 9 {
		t.Errorf("env then flag: got addr %q depth %d", cfg.Addr, cfg.MaxDepth)
	}
	if !cfg.Playground || cfg.Mode != Dev {
		t.Errorf("dev mode should enable the playground by default")
	}
	prod, _, err := Load("t", []string{"--mode", "prod"}, func(string) string { return "" }, nil)
	if err != nil {
		t.Fatal(err)
	}
	if prod.Playground || prod.LogFormat != "json" || prod.AuditLog != "stdout" {
		t.Errorf("prod mode: playground %v, log format %q, audit log %q", prod.Playground, prod.LogFormat, prod.AuditLog)
	}
	if cfg.AuditLog != filepath.Join("data", "audit.jsonl") {
		t.Errorf("dev mode: the audit stream goes to %q, want the data directory's audit.jsonl", cfg.AuditLog)
	}
	if _, _, err := Load("t", []string{"--tls-cert", "x"}, func(string) string { return "" }, nil); err == nil {
		t.Error("a certificate without a key must be refused")
	}
}

func TestSubscriptionSettings(t *testing.T) {
	none := func(string) string { return "" }
	cfg, _, err := Load("t", nil, none, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MaxStreamConnsPerUser != 50 || cfg.MaxSubscriptionsPerWS != 100 || cfg.StreamBuffer != 16 {
		t.Errorf("defaults: %d conns per user, %d subscriptions per socket, buffer %d",
			cfg.MaxStreamConnsPerUser, cfg.MaxSubscriptionsPerWS, cfg.StreamBuffer)
	}
	env := map[string]string{"LAATU_STREAM_BUFFER": "64"}
	cfg, _, err = Load("t", []string{"--max-stream-conns-per-user=3", "--max-subscriptions-per-socket=7"},
		func(k string) string { return env[k] }, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MaxStreamConnsPerUser != 3 || cfg.MaxSubscriptionsPerWS != 7 || cfg.StreamBuffer != 64 {
		t.Errorf("set: %d conns per user, %d subscriptions per socket, buffer %d",
			cfg.MaxStreamConnsPerUser, cfg.MaxSubscriptionsPerWS, cfg.StreamBuffer)
	}
	for _, bad := range []string{"0", "-1", "many"} {
		if _, _, err := Load("t", []string{"--stream-buffer=" + bad}, none, io.Discard); err == nil {
			t.Errorf("stream buffer %q accepted", bad)
		}
	}
}

// TestRateLimitSettings: limits default on, 0 turns one off, and a burst below the costliest
// accepted query is refused with a message naming both flags.
func TestRateLimitSettings(t *testing.T) {
	none := func(string) string { return "" }
	cfg, _, err := Load("t", nil, none, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.RateLimitUser <= 0 || cfg.RateLimitUserBurst < cfg.MaxComplexity || cfg.AdminAddr != "127.0.0.1:9090" {
		t.Errorf("defaults: user %d/%d, admin %q", cfg.RateLimitUser, cfg.RateLimitUserBurst, cfg.AdminAddr)
	}
	if cfg, _, err := Load("t", []string{"--rate-limit-ip", "0", "--rate-limit-ip-burst", "0", "--admin-addr", "off"}, none, io.Discard); err != nil || cfg.RateLimitIP != 0 || cfg.AdminAddr != "" {
		t.Errorf("0 and off: %v %+v", err, cfg)
	}
	_, _, err = Load("t", []string{"--rate-limit-user-burst", "100"}, none, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--rate-limit-user-burst") || !strings.Contains(err.Error(), "--max-complexity") {
		t.Errorf("a burst below max-complexity: %v", err)
	}
	if _, _, err := Load("t", []string{"--rate-limit-company", "-1"}, none, io.Discard); err == nil {
		t.Error("a negative rate must be refused")
	}
}

// TestDatabaseTimeoutSettings: the PostgreSQL session timeouts default below the request
// deadline, 0 switches one off, and a negative or unitless value is refused by name.
func TestDatabaseTimeoutSettings(t *testing.T) {
	none := func(string) string { return "" }
	cfg, _, err := Load("t", nil, none, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DBStatementTimeout != 10*time.Second || cfg.DBLockTimeout != 5*time.Second || cfg.DBIdleInTransactionTimeout != 30*time.Second {
		t.Errorf("defaults: %v %v %v", cfg.DBStatementTimeout, cfg.DBLockTimeout, cfg.DBIdleInTransactionTimeout)
	}
	if cfg.DBStatementTimeout >= cfg.RequestTimeout || cfg.DBLockTimeout >= cfg.RequestTimeout {
		t.Errorf("statement %v and lock %v timeouts must default below the request timeout %v", cfg.DBStatementTimeout, cfg.DBLockTimeout, cfg.RequestTimeout)
	}
	cfg, _, err = Load("t", []string{"--db-statement-timeout", "0", "--db-lock-timeout", "250ms"}, none, io.Discard)
	if err != nil || cfg.DBStatementTimeout != 0 || cfg.DBLockTimeout != 250*time.Millisecond {
		t.Errorf("0 and 250ms: %v %+v", err, cfg)
	}
	for _, bad := range [][]string{{"--db-statement-timeout", "-1s"}, {"--db-lock-timeout", "10"}, {"--db-idle-in-transaction-timeout", "soon"}} {
		if _, _, err := Load("t", bad, none, io.Discard); err == nil || !strings.Contains(err.Error(), strings.TrimPrefix(bad[0], "--")) {
			t.Errorf("%v: %v, want an error naming the flag", bad, err)
		}
	}
	if _, _, err := Load("t", nil, func(k string) string {
		if k == "LAATU_DB_LOCK_TIMEOUT" {
			return "-5s"
		}
		return ""
	}, io.Discard); err == nil || !strings.Contains(err.Error(), "db-lock-timeout") {
		t.Errorf("a negative LAATU_DB_LOCK_TIMEOUT: %v", err)
	}
}
