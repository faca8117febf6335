package subscribe_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/laatu/laatu/internal/subscribe"
	"github.com/laatu/laatu/internal/testdb"
)

func TestWebSocketProtocol(t *testing.T) {
	s := newServer(t, testdb.New(t), func(o *subscribe.Options) {
		o.InitTimeout = 300 * time.Millisecond
		o.MaxMessageBytes = 4096
		o.MaxSubscriptionsPerConn = 2
		o.MaxConnsPerUser = 2
		o.PingInterval = 200 * time.Millisecond
		o.MessageRate, o.MessageBurst = 5, 20
		o.AllowedOrigins = []string{"https://app.example.com"}
	})
	acme := s.fixture(t, "admin@acme.test")
	member := s.login(t, "member@acme.test")
	docVars := map[string]any{"id": acme.docs["Harbour Tower"]}
	authorized := map[string]any{"Authorization": "Bearer " + member}
	admin := s.login(t, "admin@acme.test")

	closes := []struct {
		name string
		do   func(w *wsClient)
		code websocket.StatusCode
	}{
		// A rejected connection_init closes with 4403 Forbidden (graphql-transport-ws).
		{"no token", func(w *wsClient) { w.send(map[string]any{"type": "connection_init"}) }, 4403},
		{"bad token", func(w *wsClient) {
			w.send(map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer not-a-session"}})
		}, 4403},
		{"subscribe before init", func(w *wsClient) { w.subscribe("1", documentSub, docVars) }, 4401},
		{"init timeout", func(w *wsClient) {}, 4408},
		{"second init", func(w *wsClient) {
			w.init(authorized)
			w.send(map[string]any{"type": "connection_init", "payload": authorized})
		}, 4429},
		{"operation id in use", func(w *wsClient) {
			w.init(authorized)
			w.subscribe("1", documentSub, docVars)
			w.subscribe("1", documentSub, docVars)
		}, 4409},
		{"not JSON", func(w *wsClient) {
			if err := w.c.Write(context.Background(), websocket.MessageText, []byte("hello")); err != nil {
				t.Fatal(err)
			}
		}, 4400},
		{"unknown message type", func(w *wsClient) {
			w.send(map[string]any{"id": "1", "type": "start", "payload": map[string]any{"query": documentSub}})
		}, 4400},
		{"subscribe without id", func(w *wsClient) {
			// Another user than the member's cases: the member's two connections are taken
			// by the cases around this one until their sockets are released.
			w.init(map[string]any{"token": admin})
			w.subscribe("", documentSub, docVars)
		}, 4400},
		{"message flood", func(w *wsClient) {
			// Past the burst (here 20) and the rate, the socket closes with 4429.
			w.init(map[string]any{"token": admin})
			for range 200 {
				if w.c.Write(context.Background(), websocket.MessageText, []byte(`{"type":"ping"}`)) != nil {
					break
				}
			}
		}, 4429},
		{"message too large", func(w *wsClient) {
			w.init(authorized)
			w.subscribe("1", documentSub+strings.Repeat(" ", 5000), docVars)
		}, websocket.StatusMessageTooBig},
	}
	for _, tc := range closes {
		t.Run(tc.name, func(t *testing.T) {
			w := s.mustDial(t)
			w.t = t
			tc.do(w)
			if code := w.closed(); code != tc.code {
				t.Fatalf("close code %d, want %d", code, tc.code)
			}
		})
	}

	t.Run("legacy subprotocol", func(t *testing.T) {
		w, _, err := s.dial(t, dialOpts{subprotocols: []string{"graphql-ws"}})
		if err != nil {
			t.Fatal(err)
		}
		if code := w.closed(); code != 4406 {
			t.Fatalf("close code %d, want 4406", code)
		}
	})

	t.Run("origin", func(t *testing.T) {
		for origin, ok := range map[string]bool{
			"https://evil.example.net": false,
			"https://app.example.com":  true,
			s.url:                      true, // same origin
			"":                         true, // not a browser
		} {
			h := http.Header{}
			if origin != "" {
				h.Set("Origin", origin)
			}
			w, res, err := s.dial(t, dialOpts{header: h})
			switch {
			case ok && err != nil:
				t.Fatalf("origin %q refused: %v", origin, err)
			case !ok && (err == nil || res == nil || res.StatusCode != http.StatusForbidden):
				t.Fatalf("origin %q: %v, %v; want 403", origin, res, err)
			case ok:
				w.init(authorized)
				_ = w.c.Close(websocket.StatusNormalClosure, "")
			}
		}
	})

	t.Run("dead peer", func(t *testing.T) {
		w, _, err := s.dial(t, dialOpts{noPong: true})
		if err != nil {
			t.Fatal(err)
		}
		w.init(authorized)
		start := time.Now()
		w.closed()
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("a peer that does not answer pings was dropped after %s", d)
		}
	})

	t.Run("operations per connection", func(t *testing.T) {
		w := s.mustDial(t)
		w.init(map[string]any{"token": s.login(t, "admin@acme.test")})
		w.subscribe("a", documentSub, docVars)
		w.subscribe("b", folderSub, map[string]any{"id": acme.folders["Harbour Tower"]})
		w.subscribe("c", sharedSub, nil)
		m := w.next()
		if m.Type != "error" || m.ID != "c" || !strings.Contains(string(m.Payload), "RATE_LIMITED") {
			t.Fatalf("third operation: %+v", m)
		}
		// The others live on; once one completes, there is room again.
		s.waitStreams(t, 2)
		w.send(map[string]any{"id": "a", "type": "complete"})
		w.complete("a") // gqlgen confirms, which graphql-ws ignores
		s.waitUntil(t, "operation a ended", func() bool { return s.app.Subscriptions.Streams() <= 1 })
		w.subscribe("c", sharedSub, nil)
		s.waitStreams(t, 2)
		w.silent()
	})

	t.Run("connections per user", func(t *testing.T) {
		token := s.login(t, "manager@acme.test")
		for i := 0; i < 2; i++ {
			s.mustDial(t).init(map[string]any{"Authorization": "Bearer " + token})
		}
		w := s.mustDial(t)
		w.send(map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + token}})
		if code := w.closed(); code != 4429 {
			t.Fatalf("close code %d, want 4429", code)
		}
	})
}

func TestSlowConsumer(t *testing.T) {
	s := newServer(t, testdb.New(t), func(o *subscribe.Options) { o.Buffer = 2 })
	acme := s.fixture(t, "admin@acme.test")
	admin := s.login(t, "admin@acme.test")
	folder := acme.folders["Harbour Tower/Foundations"]
	w := s.subscribeAs(t, s.login(t, "member@acme.test"), folderSub, map[string]any{"id": folder})

	// Twenty-five documents made in one transaction reach the stream at once; it loads each
	// from the database, far slower than they come, and its buffer holds two.
	var m strings.Builder
	m.WriteString("mutation($f: ID!, $t: ID!) {")
	for i := range 25 {
		fmt.Fprintf(&m, ` d%d: createDocument(input: {folderId: $f, templateId: $t, title: "Pile %d"}) { id }`, i, i)
	}
	m.WriteString("}")
	start := time.Now()
	s.do(t, admin, m.String(), map[string]any{"f": folder, "t": acme.template}, nil)
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("the writer waited %s for a slow subscriber", took)
	}
	for {
		r := w.event("1")
		if len(r.Errors) > 0 {
			finalError(t, r, "folderChanged", "RATE_LIMITED")
			break
		}
	}
	w.complete("1")
	// The ended stream is forgotten just after its complete is sent; until then it would count
	// for the new one below.
	s.waitNoStreams(t)
	// The connection lives on.
	w.subscribe("2", folderSub, map[string]any{"id": folder})
	s.waitStreams(t, 1)
	s.createDocument(t, admin, folder, acme.template, "Pile, calmly")
	if ev := data[folderEvent](t, w.event("2")).FolderChanged; ev.Kind != "CREATED" {
		t.Fatalf("after the slow consumer: %+v", ev)
	}
}

func TestGracefulShutdown(t *testing.T) {
	s := newServer(t, testdb.New(t))
	acme := s.fixture(t, "admin@acme.test")
	member := s.login(t, "member@acme.test")
	w := s.mustDial(t)
	w.init(map[string]any{"Authorization": "Bearer " + member})
	w.subscribe("doc", documentSub, map[string]any{"id": acme.docs["Harbour Tower"]})
	w.subscribe("folder", folderSub, map[string]any{"id": acme.folders["Harbour Tower"]})
	idle := s.mustDial(t)
	idle.init(map[string]any{"Authorization": "Bearer " + member})
	c := openSSE(t, s.url, member, sharedSub, nil)
	s.waitStreams(t, 3)

	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.app.Shutdown(ctx) }()

	completed := map[string]bool{}
	for len(completed) < 2 {
		if m := w.next(); m.Type == "complete" {
			completed[m.ID] = true
		} else {
			t.Fatalf("unexpected %+v", m)
		}
	}
	for _, ws := range []*wsClient{w, idle} {
		if code := ws.closed(); code != websocket.StatusGoingAway {
			t.Fatalf("close code %d, want 1001", code)
		}
	}
	c.complete()
	c.ended()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, res, err := s.dial(t, dialOpts{}); err == nil || res == nil || res.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("a WebSocket after shutdown: %v, %v; want 503", res, err)
	}
}
