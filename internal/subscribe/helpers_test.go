package subscribe_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/rs/zerolog"

	"github.com/laatu/laatu/internal/app"
	"github.com/laatu/laatu/internal/auth/password"
	"github.com/laatu/laatu/internal/config"
	"github.com/laatu/laatu/internal/database"
	"github.com/laatu/laatu/internal/seed"
	"github.com/laatu/laatu/internal/subscribe"
	"github.com/laatu/laatu/internal/testdb"
	"github.com/laatu/laatu/internal/testserver"
)

// wait bounds every wait for something that should happen; generous, the machine is shared.
const wait = 10 * time.Second

// quiet is how long a test listens to be sure that nothing comes.
const quiet = 400 * time.Millisecond

// server is one running instance: the real wiring (app.New) behind a loopback listener.
type server struct {
	db   *testdb.DB
	app  *app.App
	url  string
	http *httptest.Server

	mu     sync.Mutex
	tokens map[string]string
}

// newServer starts an instance over db, seeding the demo data unless it is there. The options
// adjust the subscription limits; the recheck timer is slow unless a test makes it fast.
func newServer(t *testing.T, db *testdb.DB, adjust ...func(*subscribe.Options)) *server {
	t.Helper()
	cfg, _, err := config.Load("test", nil, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	cfg.AuditLog, cfg.LogLevel = "off", "error"
	if db.Dialect == database.Postgres {
		cfg.DatabaseURL = db.AppURL
	}
	hasher, err := password.NewHasher(testserver.CheapHash, 4)
	if err != nil {
		t.Fatal(err)
	}
	opts := append([]func(*subscribe.Options){func(o *subscribe.Options) { o.RecheckInterval = time.Minute }}, adjust...)
	var appOpts []app.Option
	for _, f := range opts {
		appOpts = append(appOpts, app.WithSubscribeOptions(f))
	}
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.ErrorLevel)
	a, err := app.New(context.Background(), cfg, log, db.App, hasher, appOpts...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := seed.Demo(context.Background(), a.Store, hasher); err != nil {
		t.Fatalf("seed: %v", err)
	}
	hs := httptest.NewServer(a.Handler)
	s := &server{db: db, app: a, url: hs.URL, http: hs, tokens: map[string]string{}}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := a.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		hs.Close()
		_ = a.Close()
	})
	return s
}

// gqlError is one GraphQL error.
type gqlError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

func (e gqlError) code() string { s, _ := e.Extensions["code"].(string); return s }

// response is a GraphQL response.
type response struct {
	Data   json.RawMessage `json:"data"`
	Errors []gqlError      `json:"errors"`
}

func (r response) codes() []string {
	var out []string
	for _, e := range r.Errors {
		out = append(out, e.code())
	}
	return out
}

// do runs a query or mutation over POST and decodes its data into into; errors fail the test.
func (s *server) do(t *testing.T, token, query string, vars map[string]any, into any) {
	t.Helper()
	res := s.post(t, token, query, vars)
	if len(res.Errors) > 0 {
		t.Fatalf("%s: %+v", firstLine(query), res.Errors)
	}
	if into != nil {
		if err := json.Unmarshal(res.Data, into); err != nil {
			t.Fatalf("decode %s: %v", res.Data, err)
		}
	}
}

func (s *server) post(t *testing.T, token, query string, vars map[string]any) response {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, s.url+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out response
	raw, _ := io.ReadAll(res.Body)
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s: status %d: %s", firstLine(query), res.StatusCode, raw)
	}
	return out
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i > 0 {
		return s[:i]
	}
	return s
}

// login logs a demo account in, once per server.
func (s *server) login(t *testing.T, email string) string {
	t.Helper()
	s.mu.Lock()
	tok, ok := s.tokens[email]
	s.mu.Unlock()
	if ok {
		return tok
	}
	var data struct{ Login struct{ Token string } }
	s.do(t, "", `mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }`,
		map[string]any{"e": email, "p": seed.Password}, &data)
	s.mu.Lock()
	s.tokens[email] = data.Login.Token
	s.mu.Unlock()
	return data.Login.Token
}

// freshLogin opens another session, not remembered.
func (s *server) freshLogin(t *testing.T, email string) string {
	t.Helper()
	var data struct{ Login struct{ Token string } }
	s.do(t, "", `mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }`,
		map[string]any{"e": email, "p": seed.Password}, &data)
	return data.Login.Token
}

// fixture names demo objects by path, as the ADMIN of their company sees them.
type fixture struct {
	folders  map[string]string // "Harbour Tower/Foundations" → id
	docs     map[string]string // folder path → the id of one document in it
	template string
}

func (s *server) fixture(t *testing.T, admin string) fixture {
	t.Helper()
	var data struct {
		Folders   struct{ Nodes []folderNode }
		Templates struct{ Nodes []struct{ ID string } }
	}
	s.do(t, s.login(t, admin), `{
		folders(first: 20) { nodes { id name documents(first: 1) { nodes { id } }
			children(first: 20) { nodes { id name documents(first: 1) { nodes { id } } } } } }
		templates(first: 1) { nodes { id } } }`, nil, &data)
	f := fixture{folders: map[string]string{}, docs: map[string]string{}}
	var walk func(prefix string, nodes []folderNode)
	walk = func(prefix string, nodes []folderNode) {
		for _, n := range nodes {
			p := prefix + n.Name
			f.folders[p] = n.ID
			if len(n.Documents.Nodes) > 0 {
				f.docs[p] = n.Documents.Nodes[0].ID
			}
			walk(p+"/", n.Children.Nodes)
		}
	}
	walk("", data.Folders.Nodes)
	if len(data.Templates.Nodes) > 0 {
		f.template = data.Templates.Nodes[0].ID
	}
	return f
}

type folderNode struct {
	ID        string
	Name      string
	Documents struct{ Nodes []struct{ ID string } }
	Children  struct{ Nodes []folderNode }
}

// createDocument creates a DRAFT document and returns its id.
func (s *server) createDocument(t *testing.T, token, folderID, templateID, title string) string {
	t.Helper()
	var data struct{ CreateDocument struct{ ID string } }
	s.do(t, token, `mutation($in: CreateDocumentInput!) { createDocument(input: $in) { id } }`,
		map[string]any{"in": map[string]any{"folderId": folderID, "templateId": templateID, "title": title}}, &data)
	return data.CreateDocument.ID
}

// retitle changes a document's title, whatever its version.
func (s *server) retitle(t *testing.T, token, docID, title string) {
	t.Helper()
	var doc struct{ Document struct{ Version int } }
	s.do(t, token, `query($id: ID!) { document(id: $id) { version } }`, map[string]any{"id": docID}, &doc)
	s.do(t, token, `mutation($id: ID!, $in: UpdateDocumentInput!) { updateDocument(id: $id, input: $in) { id } }`,
		map[string]any{"id": docID, "in": map[string]any{"expectedVersion": doc.Document.Version, "title": title}}, nil)
}

// --- WebSocket client (graphql-transport-ws, as the graphql-ws npm client speaks it) ---------

type wsClient struct {
	t *testing.T
	c *websocket.Conn
	// msgs receives what the server sends; closed with the connection. The reader answers
	// the server's pings, as graphql-ws does.
	msgs   chan wsMsg
	err    error // why the connection ended, once msgs is closed
	noPong bool
}

type wsMsg struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

type dialOpts struct {
	header       http.Header
	subprotocols []string
	noPong       bool
}

// dial opens a WebSocket to the server; the handshake response is returned on failure.
func (s *server) dial(t *testing.T, o dialOpts) (*wsClient, *http.Response, error) {
	t.Helper()
	if o.subprotocols == nil {
		o.subprotocols = []string{"graphql-transport-ws"}
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, res, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(s.url, "http")+"/graphql",
		&websocket.DialOptions{Subprotocols: o.subprotocols, HTTPHeader: o.header})
	if err != nil {
		return nil, res, err
	}
	c.SetReadLimit(1 << 20)
	w := &wsClient{t: t, c: c, msgs: make(chan wsMsg, 256), noPong: o.noPong}
	go w.read()
	t.Cleanup(func() { _ = c.CloseNow() })
	return w, res, nil
}

func (s *server) mustDial(t *testing.T) *wsClient {
	t.Helper()
	w, _, err := s.dial(t, dialOpts{})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *wsClient) read() {
	defer close(w.msgs)
	for {
		_, data, err := w.c.Read(context.Background())
		if err != nil {
			w.err = err
			return
		}
		var m wsMsg
		if err := json.Unmarshal(data, &m); err != nil {
			w.err = err
			return
		}
		if m.Type == "ping" && !w.noPong {
			_ = w.c.Write(context.Background(), websocket.MessageText, []byte(`{"type":"pong"}`))
			continue
		}
		w.msgs <- m
	}
}

func (w *wsClient) send(v any) {
	w.t.Helper()
	b, _ := json.Marshal(v)
	if err := w.c.Write(context.Background(), websocket.MessageText, b); err != nil {
		w.t.Fatalf("send: %v", err)
	}
}

// next returns the next message, failing when the connection ends or nothing comes.
func (w *wsClient) next() wsMsg {
	w.t.Helper()
	select {
	case m, ok := <-w.msgs:
		if !ok {
			w.t.Fatalf("connection ended: %v", w.err)
		}
		return m
	case <-time.After(wait):
		w.t.Fatalf("no message within %s", wait)
	}
	return wsMsg{}
}

// init sends connection_init with payload and expects connection_ack.
func (w *wsClient) init(payload any) {
	w.t.Helper()
	w.send(map[string]any{"type": "connection_init", "payload": payload})
	if m := w.next(); m.Type != "connection_ack" {
		w.t.Fatalf("got %+v, want connection_ack", m)
	}
}

func (w *wsClient) subscribe(id, query string, vars map[string]any) {
	w.send(map[string]any{"id": id, "type": "subscribe", "payload": map[string]any{"query": query, "variables": vars}})
}

// event returns the payload of the next message, which must be next for id.
func (w *wsClient) event(id string) response {
	w.t.Helper()
	m := w.next()
	if m.Type != "next" || m.ID != id {
		w.t.Fatalf("got %s %s: %s; want next for %s", m.Type, m.ID, m.Payload, id)
	}
	var r response
	if err := json.Unmarshal(m.Payload, &r); err != nil {
		w.t.Fatal(err)
	}
	return r
}

// complete expects the next message to be complete for id.
func (w *wsClient) complete(id string) {
	w.t.Helper()
	if m := w.next(); m.Type != "complete" || m.ID != id {
		w.t.Fatalf("got %s %s: %s; want complete for %s", m.Type, m.ID, m.Payload, id)
	}
}

// silent checks that nothing arrives for a while.
func (w *wsClient) silent() {
	w.t.Helper()
	select {
	case m, ok := <-w.msgs:
		if ok {
			w.t.Fatalf("unexpected %s %s: %s", m.Type, m.ID, m.Payload)
		}
		w.t.Fatalf("connection ended: %v", w.err)
	case <-time.After(quiet):
	}
}

// closed waits for the server to close the connection, and returns the close code.
func (w *wsClient) closed() websocket.StatusCode {
	w.t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case m, ok := <-w.msgs:
			if !ok {
				return websocket.CloseStatus(w.err)
			}
			w.t.Logf("before close: %s %s %s", m.Type, m.ID, m.Payload)
		case <-deadline:
			w.t.Fatalf("connection still open after %s", wait)
		}
	}
}

// subscribeAs opens a connection as token and starts one subscription on it.
func (s *server) subscribeAs(t *testing.T, token, query string, vars map[string]any) *wsClient {
	t.Helper()
	w := s.mustDial(t)
	w.init(map[string]any{"Authorization": "Bearer " + token})
	w.subscribe("1", query, vars)
	s.waitStreams(t, 1)
	return w
}

// waitStreams waits until at least n streams run, so that events published next reach them.
func (s *server) waitStreams(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for s.app.Subscriptions.Streams() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d streams running, want %d", s.app.Subscriptions.Streams(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitNoStreams waits until every stream has ended.
func (s *server) waitNoStreams(t *testing.T) {
	t.Helper()
	s.waitUntil(t, "every stream ended", func() bool { return s.app.Subscriptions.Streams() == 0 })
}

// waitNoConnections waits until every WebSocket and SSE connection has ended.
func (s *server) waitNoConnections(t *testing.T) {
	t.Helper()
	s.waitUntil(t, "every connection ended", func() bool { return s.app.Subscriptions.Connections() == 0 })
}

func (s *server) waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not %s after %s: %d streams, %d connections", what, wait,
				s.app.Subscriptions.Streams(), s.app.Subscriptions.Connections())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// --- SSE client (graphql-sse, distinct connections mode) ---------------------------------------

type sseClient struct {
	t      *testing.T
	events chan sseEvent
	cancel context.CancelFunc
	status int
}

type sseEvent struct {
	event string
	data  string
}

// openSSE starts a subscription over SSE as graphql-sse's client does.
func openSSE(t *testing.T, url, token, query string, vars map[string]any) *sseClient {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("Accept", "text/event-stream")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	c := &sseClient{t: t, events: make(chan sseEvent, 64), cancel: cancel, status: res.StatusCode}
	go func() {
		defer close(c.events)
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.event != "" {
					c.events <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "event:"):
				ev.event = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
			case strings.HasPrefix(line, "data:"):
				ev.data += strings.TrimSpace(strings.TrimPrefix(line, "data:"))
			}
		}
	}()
	t.Cleanup(cancel)
	return c
}

func (c *sseClient) next() sseEvent {
	c.t.Helper()
	select {
	case ev, ok := <-c.events:
		if !ok {
			c.t.Fatal("SSE stream ended")
		}
		return ev
	case <-time.After(wait):
		c.t.Fatalf("no SSE event within %s", wait)
	}
	return sseEvent{}
}

// event returns the next event's response, which must be a next event.
func (c *sseClient) event() response {
	c.t.Helper()
	ev := c.next()
	if ev.event != "next" {
		c.t.Fatalf("got SSE event %q %s, want next", ev.event, ev.data)
	}
	var r response
	if err := json.Unmarshal([]byte(ev.data), &r); err != nil {
		c.t.Fatal(err)
	}
	return r
}

func (c *sseClient) complete() {
	c.t.Helper()
	if ev := c.next(); ev.event != "complete" {
		c.t.Fatalf("got SSE event %q %s, want complete", ev.event, ev.data)
	}
}

// ended waits for the server to end the response.
func (c *sseClient) ended() {
	c.t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case _, ok := <-c.events:
			if !ok {
				return
			}
		case <-deadline:
			c.t.Fatal("SSE stream still open")
		}
	}
}

// data decodes a response's data, failing on errors.
func data[T any](t *testing.T, r response) T {
	t.Helper()
	var v T
	if len(r.Errors) > 0 {
		t.Fatalf("errors: %+v", r.Errors)
	}
	if err := json.Unmarshal(r.Data, &v); err != nil {
		t.Fatalf("decode %s: %v", r.Data, err)
	}
	return v
}
