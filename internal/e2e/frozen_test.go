package e2e

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/laatu/laatu/internal/config"
	"github.com/laatu/laatu/internal/database"
	"github.com/laatu/laatu/internal/faults"
	"github.com/laatu/laatu/internal/testdb"
	"github.com/laatu/laatu/internal/testserver"
)

// TestFrozenDatabase: PostgreSQL stops answering (a proxy between server and database stops
// passing bytes, as with SIGSTOP or a black-holed network). Requests end soon after their
// deadline with 503 UNAVAILABLE instead of waiting for the database, /readyz turns unready,
// and once the database answers again the server is ready and serves by itself.
func TestFrozenDatabase(t *testing.T) {
	t.Parallel()
	db := testdb.RequirePostgres(t)
	dsn, proxy := faults.Through(t, db.AppURL)
	app, err := database.Open(context.Background(), dsn, "")
	if err != nil {
		t.Fatal(err)
	}
	proxied := *db
	proxied.App = app
	const deadline = 3 * time.Second
	s := testserver.NewOn(t, &proxied, func(c *config.Config) { c.RequestTimeout = deadline })
	token := s.Login(t, "admin@acme.test")
	const read = `{ folders { totalCount } }`
	fOK(t, s, token, read, nil, nil)
	ready := func() int {
		res, err := http.Get(s.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}

	proxy.Freeze()
	var worst time.Duration
	for i := 0; i < 3; i++ {
		start := time.Now()
		res := s.Do(t, testserver.Request{Query: read, Token: token}, nil)
		took := time.Since(start)
		worst = max(worst, took)
		if res.Status != 503 || len(res.Errors) != 1 || res.Errors[0].Code() != "UNAVAILABLE" {
			t.Errorf("a request to a frozen database: %d %+v", res.Status, res.Errors)
		}
		// Its deadline, the wait for the cancel request, and a slow machine's slack.
		if took > deadline+database.AbandonAfter+5*time.Second {
			t.Errorf("a request to a frozen database took %v (deadline %v)", took, deadline)
		}
	}
	start := time.Now()
	if status := ready(); status != 503 {
		t.Errorf("/readyz with the database frozen: %d", status)
	}
	unready := time.Since(start)

	proxy.Thaw()
	thawed := time.Now()
	for {
		res := s.Do(t, testserver.Request{Query: read, Token: token}, nil)
		if ready() == 200 && res.Status == 200 && len(res.Errors) == 0 {
			break
		}
		if time.Since(thawed) > 30*time.Second {
			t.Fatalf("not serving 30s after the database answers again: %d %+v", res.Status, res.Errors)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("frozen database: slowest request %v (deadline %v); /readyz unready after %v; serving %v after thaw",
		worst, deadline, unready, time.Since(thawed))
}
