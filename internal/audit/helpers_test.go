package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
	"go.uber.org/goleak"

	"github.com/laatu/laatu/internal/access"
	"github.com/laatu/laatu/internal/database"
	"github.com/laatu/laatu/internal/httpx"
	"github.com/laatu/laatu/internal/storage"
	"github.com/laatu/laatu/internal/testdb"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// streamBuffer captures the audit stream; the auditor serializes its writes, the test reads.
type streamBuffer struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes int
}

func (b *streamBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.writes++
	return b.buf.Write(p)
}

// writeCount is how many Writes the stream has received.
func (b *streamBuffer) writeCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.writes
}

// lines returns the stream's lines decoded as JSON objects, failing on any that is not.
func (b *streamBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b.buf.Bytes()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("stream line is not JSON: %v: %s", err, sc.Text())
		}
		out = append(out, m)
	}
	return out
}

func newAuditor(t *testing.T, db *database.DB, opts Options) (*Auditor, *streamBuffer) {
	t.Helper()
	buf := &streamBuffer{}
	a := New(db, buf, opts)
	t.Cleanup(func() { _ = a.Close() })
	return a, buf
}

func newID() string { return uuid.NewString() }

// reachIn is a ReachFunc for tests without a store: every id names a document of company
// that the caller may manage.
func reachIn(company string) ReachFunc {
	return func(_ context.Context, id string, _ access.Right) (storage.Object, error) {
		return &storage.Document{ID: id, CompanyID: company}, nil
	}
}

// userCtx is a request context of a member of company at level, from a known address.
func userCtx(userID, company string, level access.Level) context.Context {
	ctx := access.NewContext(context.Background(), &access.Principal{
		UserID: userID, SessionID: newID(), CompanyID: company, Level: level,
		Memberships: map[string]access.Level{company: level},
	})
	return httpx.NewContext(ctx, httpx.RequestInfo{ID: "req-1", ClientIP: netip.MustParseAddr("192.0.2.7"), UserAgent: "test-agent"})
}

// recordN writes n events to company's chain, one a minute from start.
func recordN(t *testing.T, a *Auditor, company string, n int, start time.Time) {
	t.Helper()
	ctx := userCtx(newID(), company, access.Admin)
	for i := 0; i < n; i++ {
		ev := Event{CompanyID: company, Action: ActionUpdate, ObjectType: ObjectDocument, ObjectID: newID(),
			OccurredAt: start.Add(time.Duration(i) * time.Minute),
			Fields:     []Field{{Field: "title", Before: "old", After: "new"}}}
		if err := a.Record(ctx, ev); err != nil {
			t.Fatalf("record: %v", err)
		}
	}
}

// chain reads a company's events in seq order, as the owner.
func chain(t *testing.T, db *database.DB, company string) []*Event {
	t.Helper()
	var events []*Event
	err := snapshotTx(context.Background(), db, company, func(ctx context.Context, tx bun.Tx) error {
		return scanChain(ctx, tx, company, nil, func(e *Event) (bool, error) {
			events = append(events, e)
			return true, nil
		})
	})
	if err != nil {
		t.Fatalf("read chain: %v", err)
	}
	return events
}

// tamper runs statements as the owner, as an attacker with database access would; on SQLite it
// first drops the triggers that guard the tables.
func tamper(t *testing.T, tdb *testdb.DB, stmts ...string) {
	t.Helper()
	ctx := context.Background()
	if tdb.Dialect == database.SQLite {
		for _, tr := range []string{"audit_events_no_update", "audit_events_no_delete", "audit_checkpoints_no_update", "audit_checkpoints_no_delete"} {
			if _, err := tdb.Owner.ExecContext(ctx, "DROP TRIGGER IF EXISTS "+tr); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, s := range stmts {
		if _, err := tdb.Owner.ExecContext(ctx, s); err != nil {
			t.Fatalf("tamper %q: %v", s, err)
		}
	}
}

func mustVerify(t *testing.T, db *database.DB, company string) Report {
	t.Helper()
	r, err := Verify(context.Background(), db, company)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return r
}
