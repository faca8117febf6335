package database_test

import (
	"context"
	"testing"
	"time"

	"github.com/laatu/laatu/internal/database"
	"github.com/laatu/laatu/internal/faults"
	"github.com/laatu/laatu/internal/testdb"
)

// TestAbandonFrozenDatabase: with the database not answering at all, a statement and a
// commit end soon after their context does (AbandonAfter), instead of waiting for the
// database; once it answers again the pool serves again. Without abandoning, the statement
// is still waiting long after its deadline: the test can fail.
func TestAbandonFrozenDatabase(t *testing.T) {
	db := testdb.RequirePostgres(t)
	dsn, f := faults.Through(t, db.AppURL)
	ctx := context.Background()
	open := func(t *testing.T) *database.DB {
		t.Helper()
		d, err := database.Open(ctx, dsn, "")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		return d
	}
	// stuck runs a transaction whose statement meets the frozen database, with a 300 ms
	// deadline, and reports when it returned (or nothing within wait).
	stuck := func(t *testing.T, d *database.DB, wait time.Duration) (time.Duration, bool) {
		t.Helper()
		rctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		tx, err := d.BeginTx(rctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		f.Freeze()
		start := time.Now()
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, _ = tx.ExecContext(rctx, "SELECT 1")
			_ = tx.Commit()
		}()
		select {
		case <-done:
			return time.Since(start), true
		case <-time.After(wait):
			f.Thaw()
			<-done
			return wait, false
		}
	}

	t.Run("abandoned", func(t *testing.T) {
		d := open(t)
		took, ended := stuck(t, d, 15*time.Second)
		f.Thaw()
		if !ended {
			t.Fatalf("the statement still waited %v after its 300ms deadline", took)
		}
		t.Logf("a statement on a frozen database returned after %v (deadline 300ms, abandon after %v)", took, database.AbandonAfter)
		// The pool recovers: the abandoned connection is discarded.
		deadline := time.Now().Add(10 * time.Second)
		for {
			var one int
			err := d.NewRaw("SELECT 1").Scan(ctx, &one)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the pool did not recover: %v", err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})

	t.Run("regression: not abandoned", func(t *testing.T) {
		database.SetAbandonForTest(false)
		defer database.SetAbandonForTest(true)
		d := open(t)
		if took, ended := stuck(t, d, 4*time.Second); ended {
			t.Fatalf("without abandoning, the statement returned after %v: the frozen proxy does not freeze", took)
		}
	})
}
