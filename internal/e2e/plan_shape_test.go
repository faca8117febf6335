package e2e

// The plan-shape test of issue 10: on a company of 200 folders and 10,000 documents, every
// statement of the nested read reads at most a small multiple of the rows it returns. A read
// predicate evaluated row by row (a correlated subplan per document scanning the company's
// folders, a page that numbers every row of every folder) reads hundreds of times more.

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/uptrace/bun"

	"github.com/laatu/laatu/internal/benchdata"
	"github.com/laatu/laatu/internal/testdb"
	"github.com/laatu/laatu/internal/testserver"
)

// planNode is the part of EXPLAIN (ANALYZE, FORMAT JSON) that the test reads.
type planNode struct {
	NodeType       string     `json:"Node Type"`
	ActualRows     float64    `json:"Actual Rows"`
	ActualLoops    float64    `json:"Actual Loops"`
	RemovedFilter  float64    `json:"Rows Removed by Filter"`
	RemovedRecheck float64    `json:"Rows Removed by Index Recheck"`
	Plans          []planNode `json:"Plans"`
}

// scanned is how many rows the scans below n read: returned or removed by a filter, per loop.
func (n planNode) scanned() float64 {
	total := 0.0
	if strings.Contains(n.NodeType, "Scan") && n.NodeType != "Function Scan" && n.NodeType != "Subquery Scan" &&
		!strings.HasPrefix(n.NodeType, "Bitmap Index") {
		total += (n.ActualRows + n.RemovedFilter + n.RemovedRecheck) * n.ActualLoops
	}
	for _, c := range n.Plans {
		total += c.scanned()
	}
	return total
}

// statementLog keeps the statements run through a database.
type statementLog struct {
	mu   sync.Mutex
	on   bool
	seen []loggedStatement
}

// loggedStatement is a statement and, for a prepared one, its parameters.
type loggedStatement struct {
	query string
	args  []any
}

func (l *statementLog) BeforeQuery(ctx context.Context, _ *bun.QueryEvent) context.Context {
	return ctx
}
func (l *statementLog) AfterQuery(_ context.Context, e *bun.QueryEvent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.on {
		l.seen = append(l.seen, loggedStatement{e.Query, e.QueryArgs})
	}
}

func TestNestedReadPlansFollowThePage(t *testing.T) {
	t.Parallel()
	db := testdb.RequirePostgres(t)
	s := testserver.NewOn(t, db)
	ctx := context.Background()
	loaded, err := benchdata.Load(ctx, db.Owner, benchdata.Small())
	if err != nil {
		t.Fatal(err)
	}
	co := loaded.Companies[0]
	log := &statementLog{}
	db.App.AddQueryHook(log) // the pool, and the prepared reads run past Bun

	const query = `{ folders(first: 10) { nodes { id name
		documents(first: 20) { nodes { id title owner { name } } }
		children(first: 5) { nodes { name } } } } }`
	for _, who := range []benchdata.Seat{co.Member, co.Admin} {
		log.mu.Lock()
		log.on, log.seen = true, nil
		log.mu.Unlock()
		var data struct {
			Folders struct {
				Nodes []struct {
					Documents struct{ Nodes []struct{ ID string } }
				}
			}
		}
		testserver.MustOK(t, s.Do(t, testserver.Request{Query: query, Token: who.Token}, &data))
		log.mu.Lock()
		log.on = false
		stmts := append([]loggedStatement(nil), log.seen...)
		log.mu.Unlock()
		if n := len(data.Folders.Nodes); n != 10 || len(data.Folders.Nodes[0].Documents.Nodes) != 20 {
			t.Fatalf("%s read %d folders (want 10) with %+v", who.Level, n, data.Folders.Nodes)
		}
		reads, prepared := 0, 0
		for _, st := range stmts {
			q := st.query
			if !strings.HasPrefix(q, "SELECT") || strings.HasPrefix(q, "SELECT set_config") {
				continue
			}
			reads++
			// Bun's own events carry the arguments it already inlined; a prepared read's text
			// holds placeholders, and its event the values to bind.
			var args []any
			if strings.Contains(q, "$1") {
				args = st.args
				prepared++
			}
			plan := explain(t, db, co.ID, who.UserID, q, args)
			returned, read := plan.ActualRows, plan.scanned()
			// A page of 21 rows per parent reads about 21 rows, plus a few
			// restricted folders and grants: a small multiple, and a floor for tiny results.
			t.Logf("%s: read %.0f rows, returned %.0f: %.80s", who.Level, read, returned, q)
			if limit := 3*returned + 200; read > limit {
				t.Errorf("%s: a statement read %.0f rows to return %.0f (limit %.0f):\n%s", who.Level, read, returned, limit, q)
			}
		}
		if reads < 3 || prepared < 2 {
			t.Errorf("%s: only %d read statements seen, %d of them prepared (want the folders page and the documents pages): %q",
				who.Level, reads, prepared, stmts)
		}
	}
}

// explain runs EXPLAIN ANALYZE of query (with args, for a prepared one) as the server's role,
// with the tenant settings of the caller and the server's generic plans, and returns the plan's
// root.
func explain(t *testing.T, db *testdb.DB, companyID, userID, query string, args []any) planNode {
	t.Helper()
	ctx := context.Background()
	tx, err := db.App.DB.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, "SELECT set_config('app.company_id', ?, true), set_config('app.user_id', ?, true),"+
		" set_config('plan_cache_mode', 'force_generic_plan', true)", companyID, userID); err != nil {
		t.Fatal(err)
	}
	var out string
	if err := tx.Tx.QueryRowContext(ctx, "EXPLAIN (ANALYZE, FORMAT JSON) "+query, args...).Scan(&out); err != nil {
		t.Fatalf("explain: %v\n%s", err, query)
	}
	var plans []struct{ Plan planNode }
	if err := json.Unmarshal([]byte(out), &plans); err != nil || len(plans) != 1 {
		t.Fatalf("explain output: %v: %s", err, out)
	}
	return plans[0].Plan
}
