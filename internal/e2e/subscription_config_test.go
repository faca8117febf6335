package e2e

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/laatu/laatu/internal/config"
	"github.com/laatu/laatu/internal/testserver"
)

// TestSubscriptionLimitsFromConfig shows that the subscription caps an operator configures
// reach the live server: with --max-stream-conns-per-user=1 a user's second stream is refused
// with RATE_LIMITED while the first stays open, and another user is not affected.
func TestSubscriptionLimitsFromConfig(t *testing.T) {
	t.Parallel()
	s := testserver.New(t, func(c *config.Config) { c.MaxStreamConnsPerUser = 1 })
	admin := s.Login(t, "admin@acme.test")
	member := s.Login(t, "member@acme.test")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// gqlgen's SSE transport answers 200 before it runs the subscription, which is where the
	// cap counts the stream: wait for the first stream to run before opening the second, or the
	// second could take the only place and the first be refused.
	streams := func() int { return s.App.Subscriptions.Streams() }
	first := openSSE(ctx, t, s, admin)
	defer first.Body.Close()
	if first.StatusCode != http.StatusOK {
		t.Fatalf("first stream: status %d", first.StatusCode)
	}
	waitUntil(t, ctx, "the first stream runs", func() bool { return streams() == 1 })

	second := openSSE(ctx, t, s, admin)
	defer second.Body.Close()
	if got := readUntil(t, second, "complete"); !strings.Contains(got, "RATE_LIMITED") {
		t.Errorf("a second stream over the cap was not refused with RATE_LIMITED:\n%s", got)
	}

	other := openSSE(ctx, t, s, member)
	defer other.Body.Close()
	if other.StatusCode != http.StatusOK {
		t.Fatalf("another user's stream: status %d", other.StatusCode)
	}
	// The other user's stream is admitted and runs beside the first, however long that takes.
	waitUntil(t, ctx, "another user's stream runs beside the first", func() bool { return streams() == 2 })
}

// waitUntil polls cond until it holds, and fails the test when ctx ends first. Tests wait for
// what they need this way rather than for a fixed time, which a busy machine can overrun.
func waitUntil(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("gave up waiting: %s (%v)", what, ctx.Err())
		case <-tick.C:
		}
	}
}

func openSSE(ctx context.Context, t *testing.T, s *testserver.Server, token string) *http.Response {
	t.Helper()
	return openSSEBody(ctx, t, s, token, `{"query":"subscription { sharedWithMeChanged { kind objectId } }"}`)
}

// openSSEBody starts a GraphQL-over-SSE request (distinct connections mode) with body.
func openSSEBody(ctx context.Context, t *testing.T, s *testserver.Server, token, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/graphql", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// readUntil reads an event stream until the line "event: <event>" and, when then is given, on
// to the next line that starts with it (the event's data); or to the stream's end.
func readUntil(t *testing.T, res *http.Response, event string, then ...string) string {
	t.Helper()
	var b strings.Builder
	sc := bufio.NewScanner(res.Body)
	seen := false
	for sc.Scan() {
		b.WriteString(sc.Text())
		b.WriteByte('\n')
		if !seen && strings.HasPrefix(sc.Text(), "event: "+event) {
			seen = true
			if len(then) == 0 {
				break
			}
		} else if seen && strings.HasPrefix(sc.Text(), then[0]) {
			break
		}
	}
	return b.String()
}
