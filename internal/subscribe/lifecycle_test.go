package subscribe_test

import (
	"net/http"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func noGoroutineLeft(t *testing.T, s *server) {
	acme := s.fixture(t, "admin@acme.test")
	member := s.login(t, "member@acme.test")
	guest := s.login(t, "guest@partner.test")
	http.DefaultClient.CloseIdleConnections()
	before := goleak.IgnoreCurrent()

	var sockets []*wsClient
	for range 3 {
		w := s.mustDial(t)
		w.init(map[string]any{"Authorization": "Bearer " + member})
		w.subscribe("doc", documentSub, map[string]any{"id": acme.docs["Harbour Tower"]})
		w.subscribe("folder", folderSub, map[string]any{"id": acme.folders["Harbour Tower"]})
		sockets = append(sockets, w)
	}
	var streams []*sseClient
	for range 2 {
		streams = append(streams, openSSE(t, s.url, guest, sharedSub, nil))
	}
	s.waitStreams(t, 8)

	// Clients leave without a word: sockets dropped, requests cancelled.
	for _, w := range sockets {
		_ = w.c.CloseNow()
	}
	for _, c := range streams {
		c.cancel()
		c.ended()
	}
	s.waitNoStreams(t)
	s.waitNoConnections(t)
	http.DefaultClient.CloseIdleConnections()
	goleak.VerifyNone(t, before)
}

// An idle stream must not hold a database connection: the pools are small (8 readers on
// SQLite, 20 connections on PostgreSQL), and a subscriber waiting for its next event would
// otherwise starve every query.
func idleStreamsHoldNoConnection(t *testing.T, s *server) {
	acme := s.fixture(t, "admin@acme.test")
	member := s.login(t, "member@acme.test")
	for i := range 3 {
		w := s.mustDial(t)
		w.init(map[string]any{"Authorization": "Bearer " + member})
		for j := range 10 {
			w.subscribe(string(rune('a'+i))+string(rune('a'+j)), folderSub, map[string]any{"id": acme.folders["Harbour Tower"]})
		}
	}
	s.waitStreams(t, 30)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.do(t, member, `{ viewer { user { id } } }`, nil, nil)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("a query waits for a database connection held by idle subscriptions")
	}
}
