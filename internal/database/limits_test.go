package database_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/laatu/laatu/internal/database"
	"github.com/laatu/laatu/internal/errs"
	"github.com/laatu/laatu/internal/testdb"
)

// TestSessionLimits: the timeouts ride on every connection of the pool, and what they stop is
// answered as UNAVAILABLE (retryable), not as a bug.
func TestSessionLimits(t *testing.T) {
	db := testdb.RequirePostgres(t)
	ctx := context.Background()
	dsn := database.WithSessionLimits(db.AppURL, database.SessionLimits{
		StatementTimeout: 300 * time.Millisecond, LockTimeout: 100 * time.Millisecond, IdleInTransactionTimeout: time.Minute})
	limited, err := database.Open(ctx, dsn, "")
	if err != nil {
		t.Fatal(err)
	}
	defer limited.Close()
	for name, want := range map[string]string{"statement_timeout": "300ms", "lock_timeout": "100ms", "idle_in_transaction_session_timeout": "1min"} {
		var got string
		if err := limited.NewRaw("SELECT current_setting(?)", name).Scan(ctx, &got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}

	// Every connection of the pool, not only the first: hold three at once.
	for i := range 3 {
		conn, err := limited.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		var got string
		if err := conn.QueryRowContext(ctx, "SHOW statement_timeout").Scan(&got); err != nil || got != "300ms" {
			t.Errorf("connection %d: SHOW statement_timeout = %q, %v", i, got, err)
		}
	}

	_, err = limited.ExecContext(ctx, "SELECT pg_sleep(5)")
	if !errs.IsUnavailable(err) {
		t.Errorf("a statement past statement_timeout: %v, want an unavailable error", err)
	}
	if pg := (interface{ SQLState() string })(nil); !errors.As(err, &pg) || pg.SQLState() != "57014" {
		t.Errorf("pg_sleep ended by %v, want query_canceled (57014)", err)
	}

	// A lock held elsewhere: the wait ends at lock_timeout.
	holder, err := db.Owner.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback()
	if _, err := holder.ExecContext(ctx, "LOCK TABLE folders IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	tx, err := limited.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	_, err = tx.ExecContext(ctx, "LOCK TABLE folders IN SHARE MODE")
	if took := time.Since(start); !errs.IsUnavailable(err) || took > 3*time.Second {
		t.Errorf("a lock wait: %v after %v, want an unavailable error at lock_timeout", err, took)
	}
	var pg interface{ SQLState() string }
	if !errors.As(err, &pg) || pg.SQLState() != "55P03" {
		t.Errorf("lock wait ended by %v, want lock_not_available (55P03)", err)
	}
}

func TestWithSessionLimitsKeepsGiven(t *testing.T) {
	got := database.WithSessionLimits("postgres://u@h/db?statement_timeout=7&sslmode=disable", database.SessionLimits{StatementTimeout: time.Second})
	if got != "postgres://u@h/db?connect_timeout=5&sslmode=disable&statement_timeout=7" {
		t.Errorf("got %s", got)
	}
	if got := database.WithSessionLimits("", database.SessionLimits{StatementTimeout: time.Second}); got != "" {
		t.Errorf("the embedded store's empty URL became %q", got)
	}
}

// TestWithSessionLimitsRoundsUp: PostgreSQL counts these timeouts in milliseconds, where 0
// means none; a shorter duration must not switch the timeout off.
func TestWithSessionLimitsRoundsUp(t *testing.T) {
	got := database.WithSessionLimits("postgres://u@h/db", database.SessionLimits{
		StatementTimeout: 500 * time.Microsecond, LockTimeout: 1500 * time.Microsecond, IdleInTransactionTimeout: 2 * time.Second})
	want := "postgres://u@h/db?connect_timeout=5&idle_in_transaction_session_timeout=2000&lock_timeout=2&statement_timeout=1"
	if got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}
