package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/laatu/laatu/internal/config"
	"github.com/laatu/laatu/internal/database"
	"github.com/laatu/laatu/internal/testserver"
)

// TestInFlightBounds: with one company's requests stuck on the database, that company's
// next request is refused at once with 503 UNAVAILABLE, another company is still served, and
// past the instance's bound everyone is refused at once; the stuck requests complete.
func TestInFlightBounds(t *testing.T) {
	t.Parallel()
	s := testserver.New(t, func(c *config.Config) {
		c.MaxInFlight, c.MaxInFlightPerCompany, c.RequestTimeout = 2, 1, time.Minute
	})
	acme, acme2 := s.Login(t, "admin@acme.test"), s.Login(t, "manager@acme.test")
	beta, guest := s.Login(t, "admin@beta.test"), s.Login(t, "guest@partner.test")
	const read = `{ viewer { level } }`

	// Writes wait on a lock held outside the server.
	ctx := context.Background()
	tx, err := s.DB.Owner.BeginTx(ctx, nil) // on SQLite BEGIN IMMEDIATE: holds the write lock
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if s.DB.Dialect == database.Postgres {
		if _, err := tx.ExecContext(ctx, "LOCK TABLE folders IN EXCLUSIVE MODE"); err != nil {
			t.Fatal(err)
		}
	}
	stuck := func(token, name string) chan *testserver.Response {
		done := make(chan *testserver.Response, 1)
		go func() {
			for {
				res := s.Do(t, testserver.Request{Query: `mutation($n: String!) { createFolder(input: {name: $n}) { id } }`,
					Variables: map[string]any{"n": name}, Token: token}, nil)
				// Refused while a poll of the same company was in flight: send it again.
				if res.Status != 503 {
					done <- res
					return
				}
				time.Sleep(10 * time.Millisecond)
			}
		}()
		return done
	}
	// refusedSoon polls with token until the server refuses it with UNAVAILABLE, which
	// happens once the stuck request is in flight, and checks that the refusal is immediate.
	refusedSoon := func(token, why string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			start := time.Now()
			res := s.Do(t, testserver.Request{Query: read, Token: token}, nil)
			if res.Status == 503 {
				if len(res.Errors) != 1 || res.Errors[0].Code() != "UNAVAILABLE" || res.Header.Get("Retry-After") == "" ||
					!strings.Contains(res.Errors[0].Message, why) {
					t.Fatalf("refusal: %d %+v Retry-After %q", res.Status, res.Errors, res.Header.Get("Retry-After"))
				}
				if took := time.Since(start); took > 5*time.Second {
					t.Errorf("the refusal took %v; it should not wait", took)
				}
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("never refused (%s): last %d %+v", why, res.Status, res.Errors)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	first := stuck(acme, "Stuck A")
	select {
	case res := <-first:
		t.Fatalf("acme's write was not held: %d %+v", res.Status, res.Errors)
	case <-time.After(time.Second):
	}
	refusedSoon(acme2, "this company")
	var data struct{ Viewer struct{ Level string } }
	fOK(t, s, beta, read, nil, &data) // another company is served beside it

	second := stuck(beta, "Stuck B")
	select {
	case res := <-second:
		t.Fatalf("beta's write was not held: %d %+v", res.Status, res.Errors)
	case <-time.After(time.Second):
	}
	refusedSoon(guest, "server is busy")

	_ = tx.Rollback()
	for _, done := range []chan *testserver.Response{first, second} {
		res := <-done
		if res.Status != 200 || len(res.Errors) > 0 {
			t.Errorf("a request that was admitted: %d %+v", res.Status, res.Errors)
		}
	}
	fOK(t, s, acme2, read, nil, &data) // the bounds are released
}
