package httpx

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/rs/zerolog"
)

func TestAccessLogLine(t *testing.T) {
	var buf bytes.Buffer
	logger := zerolog.New(&buf)
	tp, err := ParseTrustedProxies([]string{"10.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	h := Chain(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		zerolog.Ctx(r.Context()).Info().Msg("from the handler")
		AnnotationsFromContext(r.Context()).SetOperation("CreateDocument", "mutation")
		AnnotationsFromContext(r.Context()).SetUserID("user-42")
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte("hello"))
	}), Identify(tp), AccessLog(logger))

	r := httptest.NewRequest("POST", "/graphql?token=query-secret", strings.NewReader(`{"password":"body-secret"}`))
	r.RemoteAddr = "10.0.0.2:1234"
	r.Header.Set("X-Forwarded-For", "198.51.100.1")
	r.Header.Set("X-Request-ID", "req-1")
	r.Header.Set("Authorization", "Bearer auth-secret-token")
	r.Header.Set("Cookie", "session=cookie-secret")
	h.ServeHTTP(httptest.NewRecorder(), r)

	raw := buf.String()
	for _, secret := range []string{"auth-secret-token", "Bearer", "cookie-secret", "query-secret", "body-secret", "Authorization", "token="} {
		if strings.Contains(raw, secret) {
			t.Errorf("log holds %q:\n%s", secret, raw)
		}
	}
	lines := decodeLines(t, buf.Bytes())
	if inner := findLine(t, lines, "from the handler"); inner["request_id"] != "req-1" {
		t.Errorf("handler's zerolog.Ctx logger has request_id %v, want req-1", inner["request_id"])
	}
	line := findLine(t, lines, "request")
	want := map[string]any{
		"level":          "info",
		"request_id":     "req-1",
		"method":         "POST",
		"path":           "/graphql",
		"status":         float64(201),
		"bytes":          float64(5),
		"client_ip":      "198.51.100.1",
		"operation_name": "CreateDocument",
		"operation_type": "mutation",
		"user_id":        "user-42",
	}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("%s = %v, want %v", k, line[k], v)
		}
	}
	if d, ok := line["duration_ms"].(float64); !ok || d < 0 {
		t.Errorf("duration_ms = %v", line["duration_ms"])
	}
	for _, k := range []string{"hijacked", "aborted"} {
		if _, ok := line[k]; ok {
			t.Errorf("unexpected %s in %v", k, line)
		}
	}
}

func TestAccessLogDefaults(t *testing.T) {
	var buf bytes.Buffer
	// Without Identify: no id, but still one line, and the annotations holder exists.
	h := AccessLog(zerolog.New(&buf))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if AnnotationsFromContext(r.Context()) == nil {
			t.Error("AccessLog did not provide Annotations")
		}
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/readyz", nil))
	line := findLine(t, decodeLines(t, buf.Bytes()), "request")
	if line["status"] != float64(200) || line["bytes"] != float64(0) || line["path"] != "/readyz" {
		t.Errorf("line = %v", line)
	}
	if _, ok := line["request_id"]; ok {
		t.Errorf("request_id without Identify: %v", line)
	}
}

func TestAccessLogAborted(t *testing.T) {
	var buf bytes.Buffer
	h := Chain(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		panic(http.ErrAbortHandler)
	}), Identify(TrustedProxies{}), AccessLog(zerolog.New(&buf)), Recover)

	func() {
		defer func() {
			if v := recover(); v != http.ErrAbortHandler {
				t.Errorf("recovered %v, want http.ErrAbortHandler to pass through", v)
			}
		}()
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	}()
	lines := decodeLines(t, buf.Bytes())
	line := findLine(t, lines, "request")
	if line["aborted"] != true || line["status"] != float64(0) {
		t.Errorf("line = %v, want aborted with status 0", line)
	}
	for _, l := range lines {
		if l["message"] == "handler panicked" {
			t.Errorf("ErrAbortHandler logged as a panic: %v", l)
		}
	}
}

// TestFlushPassthrough streams like server-sent events: the client must read the first
// event while the handler is still running, which only a working Flush allows.
func TestFlushPassthrough(t *testing.T) {
	logger, lines := newLogLines()
	release := make(chan struct{})
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, ok := w.(http.Flusher)
		if !ok {
			t.Error("wrapped writer is not an http.Flusher")
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: one\n\n")
		f.Flush()
		<-release
		rc := http.NewResponseController(w)
		if err := rc.SetWriteDeadline(time.Now().Add(time.Minute)); err != nil {
			t.Errorf("SetWriteDeadline through Unwrap: %v", err)
		}
		_, _ = io.WriteString(w, "data: two\n\n")
		if err := rc.Flush(); err != nil {
			t.Errorf("ResponseController.Flush: %v", err)
		}
	})
	srv := httptest.NewServer(Chain(handler,
		SecurityHeaders(SecurityOptions{}), Identify(TrustedProxies{}), AccessLog(logger), Recover, MaxBytes(1<<20)))
	defer srv.Close()

	resp, err := srv.Client().Get(srv.URL + "/graphql")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	first := make(chan string, 1)
	go func() {
		line, _ := br.ReadString('\n')
		first <- line
	}()
	select {
	case line := <-first:
		if line != "data: one\n" {
			t.Fatalf("first line = %q", line)
		}
	case <-time.After(5 * time.Second):
		close(release)
		t.Fatal("first event not received while the handler runs: Flush did not pass through")
	}
	close(release)
	rest, _ := io.ReadAll(br)
	if string(rest) != "\ndata: two\n\n" {
		t.Errorf("rest = %q", rest)
	}
	_, line := lines.next(t, "request")
	if line["status"] != float64(200) || line["bytes"] != float64(len("data: one\n\ndata: two\n\n")) {
		t.Errorf("line = %v", line)
	}
}

// TestWebSocketThroughChain upgrades a real WebSocket through the whole edge: the hijack
// must pass through, and the connection is logged when its handler returns.
func TestWebSocketThroughChain(t *testing.T) {
	logger, lines := newLogLines()
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := w.(http.Hijacker); !ok {
			t.Error("wrapped writer is not an http.Hijacker")
		}
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"graphql-transport-ws"}})
		if err != nil {
			t.Errorf("accept: %v", err)
			return
		}
		defer c.CloseNow()
		typ, msg, err := c.Read(r.Context())
		if err != nil {
			t.Errorf("server read: %v", err)
			return
		}
		if err := c.Write(r.Context(), typ, msg); err != nil {
			t.Errorf("server write: %v", err)
		}
		_, _, _ = c.Read(r.Context()) // until the client closes
	})
	origins := []string{}
	cross, err := CrossOrigin(origins)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(Chain(handler,
		SecurityHeaders(SecurityOptions{}), Identify(TrustedProxies{}), AccessLog(logger), Recover, cross, MaxBytes(1<<20),
		GraphQLMethodGuard))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/graphql",
		&websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Header.Get(RequestIDHeader) == "" {
		t.Error("no X-Request-ID on the upgrade response")
	}
	if err := c.Write(ctx, websocket.MessageText, []byte(`{"type":"ping"}`)); err != nil {
		t.Fatal(err)
	}
	_, msg, err := c.Read(ctx)
	if err != nil || string(msg) != `{"type":"ping"}` {
		t.Fatalf("echo = %q, %v", msg, err)
	}
	_ = c.Close(websocket.StatusNormalClosure, "")

	_, line := lines.next(t, "request")
	if line["hijacked"] != true || line["status"] != float64(http.StatusSwitchingProtocols) || line["path"] != "/graphql" {
		t.Errorf("line = %v", line)
	}
}

// noHijack is a writer that supports nothing optional.
type noHijack struct{ http.ResponseWriter }

func TestHijackUnsupported(t *testing.T) {
	rw := wrapWriter(noHijack{httptest.NewRecorder()})
	if _, _, err := rw.Hijack(); err == nil {
		t.Fatal("Hijack succeeded on a writer that cannot hijack")
	}
	if rw.hijacked {
		t.Error("failed hijack recorded as hijacked")
	}
	if err := http.NewResponseController(rw).Flush(); err == nil {
		t.Error("Flush succeeded on a writer that cannot flush")
	}
}

// plainWriter accepts everything, as net/http's writer does for 1xx before the final status.
type plainWriter struct{ h http.Header }

func (p *plainWriter) Header() http.Header         { return p.h }
func (p *plainWriter) Write(b []byte) (int, error) { return len(b), nil }
func (p *plainWriter) WriteHeader(int)             {}

func TestWriterRecordsStatus(t *testing.T) {
	pw := &plainWriter{h: http.Header{}}
	rw := wrapWriter(pw)
	if wrapWriter(rw) != rw {
		t.Fatal("wrapWriter stacked a second wrapper")
	}
	rw.WriteHeader(http.StatusEarlyHints) // informational: the final status is still to come
	rw.WriteHeader(http.StatusAccepted)
	rw.WriteHeader(http.StatusTeapot) // superfluous, ignored by net/http too
	_, _ = rw.Write([]byte("abc"))
	if rw.statusOrDefault() != http.StatusAccepted || rw.bytes != 3 {
		t.Errorf("status %d, bytes %d", rw.statusOrDefault(), rw.bytes)
	}
	if rw.Unwrap() != http.ResponseWriter(pw) {
		t.Error("Unwrap does not return the wrapped writer")
	}
}
