// Package config reads Laatu's configuration from command-line flags and environment variables.
//
// Every setting has a flag and an environment variable; a flag wins over the variable, the
// variable over the default. The README's configuration table is generated from the same
// definitions (`laatu config`), so the documentation cannot drift from the code.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Mode is dev or prod. Dev mode seeds demo data, serves the playground and allows introspection.
type Mode string

// The modes.
const (
	Dev  Mode = "dev"
	Prod Mode = "prod"
)

// Config is everything the server needs, built once in main and passed down by hand.
type Config struct {
	Mode Mode
	Addr string
	// AdminAddr is where /metrics and /debug/pprof/ are served, apart from the API (empty: not at all).
	AdminAddr string
	DataDir   string
	BaseURL   string
	TLSCert   string
	TLSKey    string
	// TLSTerminatedByProxy says a proxy in TrustedProxies terminates TLS in front of the
	// server: prod serves plain HTTP only then, and still sends HSTS.
	TLSTerminatedByProxy bool
	LogLevel             string
	LogFormat            string
	AuditLog             string
	Playground           bool

	// DatabaseURL is the server's connection; empty means the embedded SQLite file in DataDir.
	DatabaseURL string
	// AdminDatabaseURL is the table owner's connection, used for migrations; empty means DatabaseURL.
	AdminDatabaseURL string
	AutoMigrate      bool
	SeedDemo         bool
	// AllowEmbedded accepts the embedded SQLite store in prod, which has no row-level security.
	AllowEmbedded bool

	TrustedProxies []string
	AllowedOrigins []string

	MaxBodyBytes   int64
	RequestTimeout time.Duration
	MaxDepth       int
	MaxComplexity  int
	MaxAliases     int
	MaxTokens      int
	MaxErrors      int

	// Database session limits (PostgreSQL), sent with each connection's startup so that they
	// cost no round trip: a statement, a wait for a lock, and a transaction left idle end there.
	DBStatementTimeout         time.Duration
	DBLockTimeout              time.Duration
	DBIdleInTransactionTimeout time.Duration
	// MaxInFlight bounds the queries and mutations served at once by this instance, and
	// MaxInFlightPerCompany those of one company (or one guest), so that one tenant cannot take
	// the whole connection pool; excess requests get UNAVAILABLE at once instead of queueing.
	MaxInFlight           int
	MaxInFlightPerCompany int
	// Rate limits: token buckets of operation cost (the cost --max-complexity bounds) per
	// second, with the burst that may be spent at once, per user, company and client address.
	// A rate of 0 is no limit.
	RateLimitUser, RateLimitCompany, RateLimitIP                int
	RateLimitUserBurst, RateLimitCompanyBurst, RateLimitIPBurst int
	// RedisURL, when set, keeps the rate limits' buckets in Redis, shared by every instance.
	RedisURL string

	SessionIdle     time.Duration
	SessionAbsolute time.Duration
	MaxHashing      int

	// Subscriptions (WebSocket and SSE).
	MaxStreamConnsPerUser int
	MaxSubscriptionsPerWS int
	StreamBuffer          int

	// TrashRetention is how long deleted folders and documents stay restorable before the
	// purge removes them for good.
	TrashRetention time.Duration

	// Controller, ControllerContact and Processors describe who is responsible for the personal
	// data and who processes it on the controller's behalf, for the record of processing
	// (laatu registers).
	Controller        string
	ControllerContact string
	Processors        []string

	SMTPAddr string
	SMTPFrom string
	SMTPUser string
	SMTPPass string
	SMTPTLS  string
}

// Setting describes one configuration value for flags, the environment and the README.
type Setting struct {
	Flag, Env, Default, Usage string
	value                     value
}

// Kind is the type of a setting's value, so that a command line can offer a typed flag.
type Kind int

// The kinds of settings.
const (
	KindString Kind = iota
	KindBool
	KindInt
	KindDuration
	KindList // comma-separated strings
)

// Kind reports the type of the setting's value.
func (s Setting) Kind() Kind { return s.value.kind }

type value struct {
	kind Kind
	set  func(c *Config, v string) error
}

// Settings lists every setting, in the order the README shows them.
func Settings() []Setting {
	return []Setting{
		{"mode", "LAATU_MODE", "dev", "dev (demo data, playground, introspection) or prod", value{KindString, func(c *Config, v string) error {
			switch Mode(v) {
			case Dev, Prod:
				c.Mode = Mode(v)
				return nil
			}
			return fmt.Errorf("must be dev or prod, got %q", v)
		}}},
		{"addr", "LAATU_ADDR", "localhost:8080", "address to listen on", str(func(c *Config) *string { return &c.Addr })},
		{"admin-addr", "LAATU_ADMIN_ADDR", "127.0.0.1:9090", "address of the admin listener: Prometheus /metrics and /debug/pprof/ (keep it private; off or empty: none)", value{KindString, func(c *Config, v string) error {
			if v == "off" {
				v = ""
			}
			c.AdminAddr = v
			return nil
		}}},
		{"data-dir", "LAATU_DATA_DIR", "data", "directory of the embedded SQLite database", str(func(c *Config) *string { return &c.DataDir })},
		{"database-url", "DATABASE_URL", "", "PostgreSQL URL of the server's role (empty: embedded SQLite)", str(func(c *Config) *string { return &c.DatabaseURL })},
		{"admin-database-url", "DATABASE_ADMIN_URL", "", "PostgreSQL URL of the table owner, for migrations (empty: DATABASE_URL)", str(func(c *Config) *string { return &c.AdminDatabaseURL })},
		{"allow-embedded-store", "LAATU_ALLOW_EMBEDDED_STORE", "false", "in prod, serve from the embedded SQLite store anyway (it has no row-level security: one wall less between companies)", boolean(func(c *Config) *bool { return &c.AllowEmbedded })},
		{"auto-migrate", "LAATU_AUTO_MIGRATE", "true", "apply migrations when serve starts", boolean(func(c *Config) *bool { return &c.AutoMigrate })},
		{"seed-demo", "LAATU_SEED_DEMO", "true", "load demo data on serve (dev mode only; idempotent)", boolean(func(c *Config) *bool { return &c.SeedDemo })},
		{"base-url", "LAATU_BASE_URL", "http://localhost:8080", "public URL used in links sent by mail (never taken from the request)", str(func(c *Config) *string { return &c.BaseURL })},
		{"tls-cert", "LAATU_TLS_CERT", "", "TLS certificate file; with tls-key, serve HTTPS only", str(func(c *Config) *string { return &c.TLSCert })},
		{"tls-key", "LAATU_TLS_KEY", "", "TLS private key file", str(func(c *Config) *string { return &c.TLSKey })},
		{"tls-terminated-by-proxy", "LAATU_TLS_TERMINATED_BY_PROXY", "false", "clients reach the server over HTTPS through a proxy that terminates TLS (one of --trusted-proxies): prod serves plain HTTP then, instead of refusing to start without --tls-cert", boolean(func(c *Config) *bool { return &c.TLSTerminatedByProxy })},
		{"playground", "LAATU_PLAYGROUND", "", "serve GraphiQL at / (embedded, works offline) and allow introspection (default: on in dev, off in prod)", value{KindBool, func(c *Config, v string) error {
			if v == "" {
				c.Playground = c.Mode == Dev
				return nil
			}
			b, err := strconv.ParseBool(v)
			c.Playground = b
			return err
		}}},
		{"trusted-proxies", "LAATU_TRUSTED_PROXIES", "", "comma-separated IPs/CIDRs whose X-Forwarded-For is believed", list(func(c *Config) *[]string { return &c.TrustedProxies })},
		{"allowed-origins", "LAATU_ALLOWED_ORIGINS", "", "comma-separated origins (scheme://host[:port], exactly) of browser apps allowed to call the API: CORS, cross-site requests, WebSockets", list(func(c *Config) *[]string { return &c.AllowedOrigins })},
		{"log-level", "LAATU_LOG_LEVEL", "info", "debug, info, warn or error", str(func(c *Config) *string { return &c.LogLevel })},
		{"log-format", "LAATU_LOG_FORMAT", "", "json or console (default: console in dev, json in prod)", str(func(c *Config) *string { return &c.LogFormat })},
		{"audit-log", "LAATU_AUDIT_LOG", "", "where the audit stream's JSON lines go: stdout, stderr, a file path, or off (default: DATA_DIR/audit.jsonl in dev, stdout in prod)", str(func(c *Config) *string { return &c.AuditLog })},
		{"max-body-bytes", "LAATU_MAX_BODY_BYTES", "1048576", "largest request body accepted", int64v(func(c *Config) *int64 { return &c.MaxBodyBytes })},
		{"request-timeout", "LAATU_REQUEST_TIMEOUT", "15s", "longest time one query or mutation may run", duration(func(c *Config) *time.Duration { return &c.RequestTimeout })},
		{"max-depth", "LAATU_MAX_DEPTH", "12", "deepest query accepted", intv(func(c *Config) *int { return &c.MaxDepth })},
		{"max-complexity", "LAATU_MAX_COMPLEXITY", "20000", "highest query cost accepted (connections cost their page size)", intv(func(c *Config) *int { return &c.MaxComplexity })},
		{"max-aliases", "LAATU_MAX_ALIASES", "30", "most aliased fields accepted in one operation", intv(func(c *Config) *int { return &c.MaxAliases })},
		{"max-tokens", "LAATU_MAX_TOKENS", "5000", "most lexical tokens accepted in one query document", intv(func(c *Config) *int { return &c.MaxTokens })},
		{"max-errors", "LAATU_MAX_ERRORS", "20", "most errors returned in one response", intv(func(c *Config) *int { return &c.MaxErrors })},
		{"session-idle", "LAATU_SESSION_IDLE", "2h", "a session ends after this long unused", duration(func(c *Config) *time.Duration { return &c.SessionIdle })},
		{"session-absolute", "LAATU_SESSION_ABSOLUTE", "168h", "a session ends this long after login, used or not", duration(func(c *Config) *time.Duration { return &c.SessionAbsolute })},
		{"max-hashing", "LAATU_MAX_HASHING", "0", "most password hashes computed at once (0: one per CPU core; more wait, then RATE_LIMITED)", intv(func(c *Config) *int { return &c.MaxHashing })},
		{"max-in-flight", "LAATU_MAX_IN_FLIGHT", "100", "most queries and mutations served at once by this instance (more get UNAVAILABLE at once)", positive(func(c *Config) *int { return &c.MaxInFlight })},
		{"max-in-flight-per-company", "LAATU_MAX_IN_FLIGHT_PER_COMPANY", "12", "most queries and mutations of one company (or one guest) served at once (more get UNAVAILABLE at once)", positive(func(c *Config) *int { return &c.MaxInFlightPerCompany })},
		{"rate-limit-user", "LAATU_RATE_LIMIT_USER", "2000", "operation cost per second one user may spend (0: no limit); more is refused with 429 RATE_LIMITED", nonNegative(func(c *Config) *int { return &c.RateLimitUser })},
		{"rate-limit-user-burst", "LAATU_RATE_LIMIT_USER_BURST", "40000", "operation cost one user may spend at once (at least --max-complexity)", nonNegative(func(c *Config) *int { return &c.RateLimitUserBurst })},
		{"rate-limit-company", "LAATU_RATE_LIMIT_COMPANY", "10000", "operation cost per second the users of one company may spend together (0: no limit)", nonNegative(func(c *Config) *int { return &c.RateLimitCompany })},
		{"rate-limit-company-burst", "LAATU_RATE_LIMIT_COMPANY_BURST", "200000", "operation cost one company may spend at once (at least --max-complexity)", nonNegative(func(c *Config) *int { return &c.RateLimitCompanyBurst })},
		{"rate-limit-ip", "LAATU_RATE_LIMIT_IP", "20000", "operation cost per second one client address may spend, logged in or not (0: no limit)", nonNegative(func(c *Config) *int { return &c.RateLimitIP })},
		{"rate-limit-ip-burst", "LAATU_RATE_LIMIT_IP_BURST", "400000", "operation cost one client address may spend at once (at least --max-complexity)", nonNegative(func(c *Config) *int { return &c.RateLimitIPBurst })},
		{"redis-url", "LAATU_REDIS_URL", "", "Redis (redis://host:port/db) where every instance keeps the rate limits' buckets, so that they are shared (empty: each instance its own, in memory)", str(func(c *Config) *string { return &c.RedisURL })},
		{"db-statement-timeout", "LAATU_DB_STATEMENT_TIMEOUT", "10s", "PostgreSQL statement_timeout of the server's connections (0: none)", nonNegativeDuration(func(c *Config) *time.Duration { return &c.DBStatementTimeout })},
		{"db-lock-timeout", "LAATU_DB_LOCK_TIMEOUT", "5s", "PostgreSQL lock_timeout of the server's connections (0: none)", nonNegativeDuration(func(c *Config) *time.Duration { return &c.DBLockTimeout })},
		{"db-idle-in-transaction-timeout", "LAATU_DB_IDLE_IN_TRANSACTION_TIMEOUT", "30s", "PostgreSQL idle_in_transaction_session_timeout of the server's connections (0: none)", nonNegativeDuration(func(c *Config) *time.Duration { return &c.DBIdleInTransactionTimeout })},
		{"max-stream-conns-per-user", "LAATU_MAX_STREAM_CONNS_PER_USER", "50", "most live WebSocket and SSE connections of one user on one instance (more close with 4429)", positive(func(c *Config) *int { return &c.MaxStreamConnsPerUser })},
		{"max-subscriptions-per-socket", "LAATU_MAX_SUBSCRIPTIONS_PER_SOCKET", "100", "most subscriptions at once on one WebSocket (more are refused with RATE_LIMITED)", positive(func(c *Config) *int { return &c.MaxSubscriptionsPerWS })},
		{"stream-buffer", "LAATU_STREAM_BUFFER", "16", "events a subscription may fall behind before it ends with RATE_LIMITED", positive(func(c *Config) *int { return &c.StreamBuffer })},
		{"trash-retention", "LAATU_TRASH_RETENTION", "720h", "how long deleted folders and documents stay in the trash, restorable, before the daily purge removes them", positiveDuration(func(c *Config) *time.Duration { return &c.TrashRetention })},
		{"controller", "LAATU_CONTROLLER", "", "the data controller named in the record of processing (laatu registers): the organization running this service", str(func(c *Config) *string { return &c.Controller })},
		{"controller-contact", "LAATU_CONTROLLER_CONTACT", "", "how to reach the controller or its data protection officer, for the record of processing", str(func(c *Config) *string { return &c.ControllerContact })},
		{"processors", "LAATU_PROCESSORS", "", "comma-separated processors for the record of processing, each role:name (e.g. hosting:UpCloud Finland,mail:Postmark EU)", list(func(c *Config) *[]string { return &c.Processors })},
		{"smtp-addr", "LAATU_SMTP_ADDR", "", "SMTP server host:port (empty: mail is logged, dev only)", str(func(c *Config) *string { return &c.SMTPAddr })},
		{"smtp-from", "LAATU_SMTP_FROM", "Laatu <no-reply@laatu.test>", "sender address of outgoing mail", str(func(c *Config) *string { return &c.SMTPFrom })},
		{"smtp-user", "LAATU_SMTP_USER", "", "SMTP user name", str(func(c *Config) *string { return &c.SMTPUser })},
		{"smtp-password", "LAATU_SMTP_PASSWORD", "", "SMTP password (prefer the variable to the flag)", str(func(c *Config) *string { return &c.SMTPPass })},
		{"smtp-tls", "LAATU_SMTP_TLS", "required", "STARTTLS to the SMTP server: required (no mail in plain text; the certificate is verified for the host of --smtp-addr), starttls-if-offered, or off (a relay on the same host)", value{KindString, func(c *Config, v string) error {
			switch v {
			case "required", "starttls-if-offered", "off":
				c.SMTPTLS = v
				return nil
			}
			return fmt.Errorf("must be required, starttls-if-offered or off, got %q", v)
		}}},
	}
}

// Load parses args (without the program and subcommand names) over the environment.
// It returns the remaining positional arguments. The laatu command parses its flags with
// internal/cli and calls Build; Load serves tests and tools that want a Config from flags.
func Load(name string, args []string, getenv func(string) string, stderr io.Writer) (Config, []string, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	settings := Settings()
	values := make(map[string]*string, len(settings))
	for _, s := range settings {
		def := s.Default
		if v := getenv(s.Env); v != "" {
			def = v
		}
		values[s.Flag] = fs.String(s.Flag, def, fmt.Sprintf("%s (env %s)", s.Usage, s.Env))
	}
	if err := fs.Parse(args); err != nil {
		return Config{}, nil, err
	}
	c, err := Build(func(s Setting) string { return *values[s.Flag] })
	return c, fs.Args(), err
}

// Build makes a Config from one text value per setting (value returns the setting's Default
// when neither its flag nor its variable is given), fills the mode-dependent defaults and
// checks the result.
func Build(value func(Setting) string) (Config, error) {
	var c Config
	for _, s := range Settings() {
		if err := s.value.set(&c, value(s)); err != nil {
			return Config{}, fmt.Errorf("--%s: %w", s.Flag, err)
		}
	}
	if c.LogFormat == "" {
		c.LogFormat = map[Mode]string{Dev: "console", Prod: "json"}[c.Mode]
	}
	if c.AuditLog == "" {
		// In dev the stream would drown the terminal; in prod stdout is what a log shipper reads.
		c.AuditLog = map[Mode]string{Dev: filepath.Join(c.DataDir, "audit.jsonl"), Prod: "stdout"}[c.Mode]
	}
	return c, c.validate()
}

func (c *Config) validate() error {
	var problems []error
	if (c.TLSCert == "") != (c.TLSKey == "") {
		problems = append(problems, errors.New("--tls-cert and --tls-key go together"))
	}
	if c.TLSTerminatedByProxy && len(c.TrustedProxies) == 0 {
		problems = append(problems, errors.New("--tls-terminated-by-proxy needs --trusted-proxies: the addresses of the proxy that terminates TLS"))
	}
	if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		problems = append(problems, fmt.Errorf("--base-url must be an absolute http(s) URL, got %q", c.BaseURL))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"request-timeout", c.RequestTimeout}, {"session-idle", c.SessionIdle}, {"session-absolute", c.SessionAbsolute}} {
		if d.v <= 0 {
			problems = append(problems, fmt.Errorf("--%s must be positive", d.name))
		}
	}
	if c.MaxBodyBytes < 1024 || c.MaxDepth < 2 || c.MaxComplexity < 1 || c.MaxAliases < 1 || c.MaxTokens < 100 || c.MaxErrors < 1 || c.MaxHashing < 0 {
		problems = append(problems, errors.New("limits must be positive (max-body-bytes at least 1024, max-tokens at least 100)"))
	}
	for _, r := range []struct {
		name        string
		rate, burst int
	}{{"user", c.RateLimitUser, c.RateLimitUserBurst}, {"company", c.RateLimitCompany, c.RateLimitCompanyBurst}, {"ip", c.RateLimitIP, c.RateLimitIPBurst}} {
		if r.rate > 0 && r.burst < c.MaxComplexity {
			problems = append(problems, fmt.Errorf("--rate-limit-%s-burst (%d) must be at least --max-complexity (%d), or the costliest accepted query could never run", r.name, r.burst, c.MaxComplexity))
		}
	}
	if c.RedisURL != "" && !strings.HasPrefix(c.RedisURL, "redis://") && !strings.HasPrefix(c.RedisURL, "rediss://") && !strings.HasPrefix(c.RedisURL, "unix://") {
		problems = append(problems, errors.New("--redis-url must be a redis://, rediss:// or unix:// URL"))
	}
	if c.AdminAddr != "" && c.AdminAddr == c.Addr {
		problems = append(problems, errors.New("--admin-addr must differ from --addr: metrics and profiles are never served on the public port"))
	}
	if c.AdminDatabaseURL != "" && c.DatabaseURL == "" {
		problems = append(problems, errors.New("DATABASE_ADMIN_URL is set but DATABASE_URL is not: set both for PostgreSQL, neither for the embedded store"))
	}
	if c.DatabaseURL != "" && !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") {
		problems = append(problems, errors.New("DATABASE_URL must be a postgres:// URL (leave it empty for the embedded store)"))
	}
	return errors.Join(problems...)
}

// SQLitePath is the embedded database file.
func (c *Config) SQLitePath() string { return filepath.Join(c.DataDir, "laatu.db") }

// TLS reports whether the server serves HTTPS.
func (c *Config) TLS() bool { return c.TLSCert != "" }

// HTTPS reports whether clients reach the server over HTTPS, served by it or by a proxy
// that terminates TLS.
func (c *Config) HTTPS() bool { return c.TLS() || c.TLSTerminatedByProxy }

func str(field func(*Config) *string) value {
	return value{KindString, func(c *Config, v string) error { *field(c) = v; return nil }}
}

func list(field func(*Config) *[]string) value {
	return value{KindList, func(c *Config, v string) error {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				*field(c) = append(*field(c), p)
			}
		}
		return nil
	}}
}

func boolean(field func(*Config) *bool) value {
	return value{KindBool, func(c *Config, v string) (err error) { *field(c), err = strconv.ParseBool(v); return err }}
}

func intv(field func(*Config) *int) value {
	return value{KindInt, func(c *Config, v string) (err error) { *field(c), err = strconv.Atoi(v); return err }}
}

// positive is intv for counts where zero or less means nothing sensible.
func positive(field func(*Config) *int) value {
	return value{KindInt, func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return err
		}
		if n < 1 {
			return fmt.Errorf("must be at least 1, got %d", n)
		}
		*field(c) = n
		return nil
	}}
}

// nonNegative is intv for limits where zero means none.
func nonNegative(field func(*Config) *int) value {
	return value{KindInt, func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return err
		}
		if n < 0 {
			return fmt.Errorf("must be 0 (no limit) or more, got %d", n)
		}
		*field(c) = n
		return nil
	}}
}

func int64v(field func(*Config) *int64) value {
	return value{KindInt, func(c *Config, v string) (err error) { *field(c), err = strconv.ParseInt(v, 10, 64); return err }}
}

func duration(field func(*Config) *time.Duration) value {
	return value{KindDuration, func(c *Config, v string) (err error) { *field(c), err = time.ParseDuration(v); return err }}
}

func positiveDuration(field func(*Config) *time.Duration) value {
	return value{KindDuration, func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return err
		}
		if d <= 0 {
			return fmt.Errorf("must be positive, got %s", v)
		}
		*field(c) = d
		return nil
	}}
}

// nonNegativeDuration is duration for timeouts where zero means none.
func nonNegativeDuration(field func(*Config) *time.Duration) value {
	return value{KindDuration, func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return err
		}
		if d < 0 {
			return fmt.Errorf("must be 0 (off) or more, got %s", v)
		}
		*field(c) = d
		return nil
	}}
}

// Markdown renders the settings as the README's table.
func Markdown() string {
	var b strings.Builder
	b.WriteString("| flag | environment | default | meaning |\n|---|---|---|---|\n")
	for _, s := range Settings() {
		def := s.Default
		if def == "" {
			def = "—"
		} else {
			def = "`" + def + "`"
		}
		fmt.Fprintf(&b, "| `--%s` | `%s` | %s | %s |\n", s.Flag, s.Env, def, s.Usage)
	}
	return b.String()
}
