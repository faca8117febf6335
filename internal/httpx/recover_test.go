package httpx

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

const internalBody = `{"errors":[{"message":"internal server error","extensions":{"code":"INTERNAL"}}]}`

func TestRecoverAnswers500(t *testing.T) {
	var buf bytes.Buffer
	h := Chain(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		panic("secret panic detail")
	}), Identify(mustProxies(t, "192.0.2.1")), AccessLog(zerolog.New(&buf)), Recover)

	r := httptest.NewRequest("POST", "/graphql", nil)
	r.Header.Set(RequestIDHeader, "req-panic")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)

	if rec.Code != http.StatusInternalServerError {
		t.Errorf("status = %d", rec.Code)
	}
	if got := rec.Body.String(); got != internalBody {
		t.Errorf("body = %s", got)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	if strings.Contains(rec.Body.String(), "secret") {
		t.Error("panic text leaked to the client")
	}

	lines := decodeLines(t, buf.Bytes())
	p := findLine(t, lines, "handler panicked")
	if p["level"] != "error" || p["request_id"] != "req-panic" || p["panic"] != "secret panic detail" {
		t.Errorf("panic line = %v", p)
	}
	if stack, _ := p["stack"].(string); !strings.Contains(stack, "recover_test.go") {
		t.Errorf("stack does not show the panicking frame: %q", stack)
	}
	if line := findLine(t, lines, "request"); line["status"] != float64(500) {
		t.Errorf("access line = %v", line)
	}
}

func TestRecoverAfterHeaders(t *testing.T) {
	var buf bytes.Buffer
	h := Chain(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"data":`))
		panic("half way")
	}), AccessLog(zerolog.New(&buf)), Recover)

	rec := httptest.NewRecorder()
	func() {
		defer func() {
			if v := recover(); v != http.ErrAbortHandler {
				t.Errorf("recovered %v, want http.ErrAbortHandler so the server drops the connection", v)
			}
		}()
		h.ServeHTTP(rec, httptest.NewRequest("POST", "/graphql", nil))
	}()
	if got := rec.Body.String(); got != `{"data":` {
		t.Errorf("body = %q: nothing may follow the partial response", got)
	}
	lines := decodeLines(t, buf.Bytes())
	findLine(t, lines, "handler panicked")
	if line := findLine(t, lines, "request"); line["aborted"] != true || line["status"] != float64(200) {
		t.Errorf("access line = %v", line)
	}
}

func TestRecoverAbortHandlerPassesThrough(t *testing.T) {
	var buf bytes.Buffer
	h := Recover(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		panic(http.ErrAbortHandler)
	}))
	r := httptest.NewRequest("GET", "/", nil)
	r = r.WithContext(zerolog.New(&buf).WithContext(r.Context()))
	rec := httptest.NewRecorder()
	func() {
		defer func() {
			if v := recover(); v != http.ErrAbortHandler {
				t.Errorf("recovered %v, want http.ErrAbortHandler", v)
			}
		}()
		h.ServeHTTP(rec, r)
	}()
	if buf.Len() != 0 || rec.Body.Len() != 0 {
		t.Errorf("ErrAbortHandler was handled: log %q, body %q", buf.String(), rec.Body.String())
	}
}

// TestRecoverServer checks the whole path on a real server: the client gets the JSON 500.
func TestRecoverServer(t *testing.T) {
	logger, lines := newLogLines()
	srv := httptest.NewServer(Chain(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]int
		//lint:ignore SA5000 the runtime panic is what this handler is for
		m["boom"]++
	}), Identify(TrustedProxies{}), AccessLog(logger), Recover))
	defer srv.Close()

	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body bytes.Buffer
	_, _ = body.ReadFrom(resp.Body)
	if resp.StatusCode != 500 || body.String() != internalBody {
		t.Errorf("got %d %s", resp.StatusCode, body.String())
	}
	lines.next(t, "handler panicked")
	lines.next(t, "request")
}

func mustProxies(t *testing.T, cidrs ...string) TrustedProxies {
	t.Helper()
	p, err := ParseTrustedProxies(cidrs)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
