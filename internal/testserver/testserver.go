// Package testserver runs the whole Laatu server — the same wiring as the binary — over a test
// database with the demo data, behind a real HTTP listener on loopback, and speaks GraphQL to
// it the way a client does.
package testserver

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/laatu/laatu/internal/app"
	"github.com/laatu/laatu/internal/auth/password"
	"github.com/laatu/laatu/internal/config"
	"github.com/laatu/laatu/internal/seed"
	"github.com/laatu/laatu/internal/testdb"
)

// CheapHash are argon2id parameters fast enough for tests; production uses the defaults.
var CheapHash = password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// Server is a running test server.
type Server struct {
	DB     *testdb.DB
	App    *app.App
	Config config.Config
	URL    string
	// AdminURL is the admin listener's (metrics, profiles), a listener apart as in the binary.
	AdminURL string
	Demo     seed.Result
	tokens   map[string]string
}

// Option adjusts the configuration before the server is built.
type Option func(*config.Config)

// New starts a server with the demo data on a fresh database (SQLite, or PostgreSQL when
// TEST_DATABASE_URL is set).
func New(t testing.TB, opts ...Option) *Server {
	t.Helper()
	return NewOn(t, testdb.New(t), opts...)
}

// NewOn starts a server over db.
func NewOn(t testing.TB, db *testdb.DB, opts ...Option) *Server {
	t.Helper()
	return NewWith(t, db, nil, opts...)
}

// NewWith starts a server over db, wired with appOpts.
func NewWith(t testing.TB, db *testdb.DB, appOpts []app.Option, opts ...Option) *Server {
	t.Helper()
	cfg, _, err := config.Load("test", nil, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	cfg.LogLevel = "error"
	cfg.AuditLog = "off"
	// On PostgreSQL the server listens for changes as it does in production, so that
	// subscriptions in tests travel through pg_notify; on SQLite this is empty.
	cfg.DatabaseURL = db.AppURL
	for _, o := range opts {
		o(&cfg)
	}
	hasher, err := password.NewHasher(CheapHash, 4)
	if err != nil {
		t.Fatal(err)
	}
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.ErrorLevel)
	a, err := app.New(context.Background(), cfg, log, db.App, hasher, appOpts...)
	if err != nil {
		t.Fatal(err)
	}
	demo, err := seed.Demo(context.Background(), a.Store, hasher)
	if err != nil {
		t.Fatalf("seed: %v", err)
	}
	hs := httptest.NewServer(a.Handler)
	admin := httptest.NewServer(a.Admin)
	t.Cleanup(func() {
		admin.Close()
		// Subscriptions first, as the binary does: httptest's Close would wait for SSE streams.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := a.Shutdown(ctx); err != nil {
			t.Errorf("shut subscriptions down: %v", err)
		}
		hs.Close()
		if err := a.Close(); err != nil {
			t.Errorf("close app: %v", err)
		}
	})
	return &Server{DB: db, App: a, Config: cfg, URL: hs.URL, AdminURL: admin.URL, Demo: demo, tokens: map[string]string{}}
}

// Response is a GraphQL response.
type Response struct {
	Data       json.RawMessage `json:"data"`
	Errors     []Error         `json:"errors"`
	Extensions map[string]any  `json:"extensions"`
	// Status is the HTTP status.
	Status int `json:"-"`
	// Header is the HTTP response's header.
	Header http.Header `json:"-"`
}

// Error is one GraphQL error.
type Error struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

// Code is the error's extensions.code.
func (e Error) Code() string { s, _ := e.Extensions["code"].(string); return s }

// Codes lists the codes of all errors, in order.
func (r *Response) Codes() []string {
	var out []string
	for _, e := range r.Errors {
		out = append(out, e.Code())
	}
	return out
}

// Request is one GraphQL request.
type Request struct {
	Query     string         `json:"query"`
	Variables map[string]any `json:"variables,omitempty"`
	// Token is sent as a bearer token when set; Company as X-Company-ID.
	Token   string            `json:"-"`
	Company string            `json:"-"`
	Headers map[string]string `json:"-"`
}

// Do sends a request and decodes the response; into, when not nil, receives data.
func (s *Server) Do(t testing.TB, req Request, into any) *Response {
	t.Helper()
	body, _ := json.Marshal(req)
	hr, err := http.NewRequest(http.MethodPost, s.URL+"/graphql", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	hr.Header.Set("Content-Type", "application/json")
	if req.Token != "" {
		hr.Header.Set("Authorization", "Bearer "+req.Token)
	}
	if req.Company != "" {
		hr.Header.Set("X-Company-ID", req.Company)
	}
	for k, v := range req.Headers {
		hr.Header.Set(k, v)
	}
	return s.send(t, hr, into)
}

// Raw sends an arbitrary HTTP request to the server and decodes a GraphQL-shaped answer.
func (s *Server) Raw(t testing.TB, method, path, contentType, body string, headers map[string]string) *Response {
	t.Helper()
	hr, err := http.NewRequest(method, s.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		hr.Header.Set("Content-Type", contentType)
	}
	for k, v := range headers {
		hr.Header.Set(k, v)
	}
	return s.send(t, hr, nil)
}

func (s *Server) send(t testing.TB, hr *http.Request, into any) *Response {
	t.Helper()
	res, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := &Response{Status: res.StatusCode, Header: res.Header}
	if err := json.Unmarshal(raw, out); err != nil {
		t.Fatalf("response is not JSON (status %d): %s", res.StatusCode, raw)
	}
	if into != nil && len(out.Data) > 0 && string(out.Data) != "null" {
		if err := json.Unmarshal(out.Data, into); err != nil {
			t.Fatalf("decode data: %v: %s", err, out.Data)
		}
	}
	return out
}

// Login logs a demo account in (once per server) and returns its token.
func (s *Server) Login(t testing.TB, email string) string {
	t.Helper()
	if tok, ok := s.tokens[email]; ok {
		return tok
	}
	var data struct {
		Login struct{ Token string }
	}
	res := s.Do(t, Request{
		Query:     `mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }`,
		Variables: map[string]any{"e": email, "p": seed.Password},
	}, &data)
	if len(res.Errors) > 0 || data.Login.Token == "" {
		t.Fatalf("login %s: %+v", email, res.Errors)
	}
	s.tokens[email] = data.Login.Token
	return data.Login.Token
}

// MustOK fails the test when the response has errors.
func MustOK(t testing.TB, res *Response) {
	t.Helper()
	if len(res.Errors) > 0 {
		t.Fatalf("unexpected errors: %+v", res.Errors)
	}
}
