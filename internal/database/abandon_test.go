package database_test

import (
	"context"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/laatu/laatu/internal/database"
	"github.com/laatu/laatu/internal/testdb"
)

// freezer is a TCP proxy to the database that can stop passing bytes in both directions
// without closing anything: what a frozen server (SIGSTOP) or a black-holed network looks
// like from the client.
type freezer struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	thaw   chan struct{} // closed while traffic flows
}

func newFreezer(t *testing.T, target string) *freezer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &freezer{ln: ln, target: target, thaw: make(chan struct{})}
	close(f.thaw)
	t.Cleanup(func() { f.unfreeze(); ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go f.serve(c)
		}
	}()
	return f
}

func (f *freezer) serve(c net.Conn) {
	defer c.Close()
	s, err := net.Dial("tcp", f.target)
	if err != nil {
		return
	}
	defer s.Close()
	done := make(chan struct{}, 2)
	go func() { f.pipe(s, c); done <- struct{}{} }()
	go func() { f.pipe(c, s); done <- struct{}{} }()
	<-done
}

func (f *freezer) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		f.mu.Lock()
		thaw := f.thaw
		f.mu.Unlock()
		<-thaw
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (f *freezer) freeze() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.thaw = make(chan struct{})
}

func (f *freezer) unfreeze() {
	f.mu.Lock()
	defer f.mu.Unlock()
	select {
	case <-f.thaw:
	default:
		close(f.thaw)
	}
}

// throughFreezer returns dsn pointed at a freezer in front of its server.
func throughFreezer(t *testing.T, dsn string) (string, *freezer) {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	host := u.Host
	if u.Port() == "" {
		host += ":5432"
	}
	f := newFreezer(t, host)
	u.Host = f.ln.Addr().String()
	return u.String(), f
}

// TestAbandonFrozenDatabase: with the database not answering at all, a statement and a
// commit end soon after their context does (AbandonAfter), instead of waiting for the
// database; once it answers again the pool serves again. Without abandoning, the statement
// is still waiting long after its deadline: the test can fail.
func TestAbandonFrozenDatabase(t *testing.T) {
	db := testdb.RequirePostgres(t)
	dsn, f := throughFreezer(t, db.AppURL)
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
		f.freeze()
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
			f.unfreeze()
			<-done
			return wait, false
		}
	}

	t.Run("abandoned", func(t *testing.T) {
		d := open(t)
		took, ended := stuck(t, d, 15*time.Second)
		f.unfreeze()
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
