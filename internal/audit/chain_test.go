package audit

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/laatu/laatu/internal/database"
	"github.com/laatu/laatu/internal/testdb"
)

const eventColumns = `company_id, seq, id, occurred_at, request_id, operation_type, operation_name,
	operation_hash, root_fields, actor_id, principal_kind, principal_level, grant_id, session_id,
	client_ip, user_agent, action, object_type, object_id, fields, prev_hash, hash`

func TestVerifyFindsEachKindOfTampering(t *testing.T) {
	tdb := testdb.New(t)
	a, _ := newAuditor(t, tdb.App, Options{})
	start := time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)

	// where builds the condition on one row of company's chain.
	where := func(company string, seq int) string {
		return fmt.Sprintf("company_id = '%s' AND seq = %d", company, seq)
	}
	cases := []struct {
		name   string
		tamper func(t *testing.T, company string)
		kind   ProblemKind
		seq    int64
	}{
		{"update a field", func(t *testing.T, c string) {
			tamper(t, tdb, "UPDATE audit_events SET client_ip = '203.0.113.9' WHERE "+where(c, 3))
		}, Modified, 3},
		{"update the values of a change", func(t *testing.T, c string) {
			tamper(t, tdb, `UPDATE audit_events SET fields = '[{"field":"title","before":"old","after":"forged"}]' WHERE `+where(c, 3))
		}, Modified, 3},
		{"rewrite a row with a recomputed hash", func(t *testing.T, c string) {
			e := chain(t, tdb.Owner, c)[2]
			e.ClientIP = "203.0.113.9"
			h, err := e.computeHash()
			if err != nil {
				t.Fatal(err)
			}
			tamper(t, tdb, fmt.Sprintf("UPDATE audit_events SET client_ip = '%s', hash = '%s' WHERE %s", e.ClientIP, h, where(c, 3)))
		}, Modified, 3},
		{"delete a row", func(t *testing.T, c string) {
			tamper(t, tdb, "DELETE FROM audit_events WHERE "+where(c, 3))
		}, Deleted, 3},
		{"delete a row and renumber the rest", func(t *testing.T, c string) {
			tamper(t, tdb, "DELETE FROM audit_events WHERE "+where(c, 3),
				fmt.Sprintf("UPDATE audit_events SET seq = seq + 1000000 WHERE company_id = '%s' AND seq > 3", c),
				fmt.Sprintf("UPDATE audit_events SET seq = seq - 1000001 WHERE company_id = '%s' AND seq > 1000000", c))
		}, Deleted, 3},
		{"swap two rows", func(t *testing.T, c string) {
			tamper(t, tdb, "UPDATE audit_events SET seq = 1000002 WHERE "+where(c, 2),
				"UPDATE audit_events SET seq = 2 WHERE "+where(c, 4),
				"UPDATE audit_events SET seq = 4 WHERE "+where(c, 1000002))
		}, Reordered, 2},
		{"swap adjacent rows", func(t *testing.T, c string) {
			tamper(t, tdb, "UPDATE audit_events SET seq = 1000003 WHERE "+where(c, 3),
				"UPDATE audit_events SET seq = 3 WHERE "+where(c, 4),
				"UPDATE audit_events SET seq = 4 WHERE "+where(c, 1000003))
		}, Reordered, 3},
		{"insert a forged copy of a row", func(t *testing.T, c string) {
			cols := strings.Replace(eventColumns, "seq, id,", "7, '"+newID()+"',", 1)
			tamper(t, tdb, "INSERT INTO audit_events ("+eventColumns+") SELECT "+cols+" FROM audit_events WHERE "+where(c, 3))
		}, Inserted, 7},
		{"insert a well-hashed forged row in the middle", func(t *testing.T, c string) {
			prev := chain(t, tdb.Owner, c)[1]
			tamper(t, tdb,
				fmt.Sprintf("UPDATE audit_events SET seq = seq + 1000000 WHERE company_id = '%s' AND seq >= 3", c),
				fmt.Sprintf("UPDATE audit_events SET seq = seq - 999999 WHERE company_id = '%s' AND seq > 1000000", c))
			forged := &Event{CompanyID: c, ID: newID(), OccurredAt: prev.OccurredAt, PrincipalKind: "SYSTEM",
				Action: ActionDelete, ObjectType: ObjectDocument, ObjectID: newID()}
			if err := forged.prepare(); err != nil {
				t.Fatal(err)
			}
			forged.Seq, forged.PrevHash = 3, prev.Hash
			forged.Hash, _ = forged.computeHash()
			if _, err := tdb.Owner.NewInsert().Model(&row{Event: *forged}).Exec(context.Background()); err != nil {
				t.Fatal(err)
			}
		}, Inserted, 4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			company := newID()
			recordN(t, a, company, 6, start)
			if r := mustVerify(t, tdb.App, company); !r.OK() || r.Events != 6 || r.LastSeq != 6 {
				t.Fatalf("untouched chain: %v", r)
			}
			tc.tamper(t, company)
			r := mustVerify(t, tdb.App, company)
			if r.OK() {
				t.Fatalf("tampering not found: %v", r)
			}
			if r.Problem.Kind != tc.kind || r.Problem.Seq != tc.seq {
				t.Fatalf("got %s at %d (%s), want %s at %d", r.Problem.Kind, r.Problem.Seq, r.Problem.Detail, tc.kind, tc.seq)
			}
		})
	}

	// VerifyAll sees every chain, and each broken one.
	reports, err := VerifyAll(context.Background(), tdb.Owner)
	if err != nil {
		t.Fatal(err)
	}
	if len(reports) != len(cases) {
		t.Fatalf("VerifyAll: %d reports, want %d", len(reports), len(cases))
	}
	for _, r := range reports {
		if r.OK() {
			t.Errorf("VerifyAll: %v", r)
		}
	}
}

// The hash is computed before the event is stored and again after it is read back; values
// must survive the round trip through jsonb (key order, number forms) unchanged.
func TestHashSurvivesTheDatabase(t *testing.T) {
	tdb := testdb.New(t)
	company := newID()
	ctx := userCtx(newID(), company, "ADMIN")
	ev := &Event{CompanyID: strings.ToUpper(company), Action: ActionUpdate, ObjectType: ObjectDocument, ObjectID: newID(),
		OccurredAt: time.Date(2026, 3, 4, 5, 6, 7, 891234567, time.FixedZone("EET", 7200)),
		Fields: []Field{
			{Field: "values", Before: map[string]any{"zeta": 1.0, "alpha": []any{int64(1) << 60, "<b>&amp;</b>", nil, true}, "neg": math.Copysign(0, -1)},
				After: map[string]any{"big": 1e21, "small": 1e-7, "text": "ääkköset \u2028 \"quoted\""}},
			{Field: "email", Before: "a@example.com", After: "b@example.com", Personal: true},
			{Field: "count", Before: 3, After: uint8(4)},
		}}
	fillFromContext(ctx, ev)
	err := tdb.App.RunInTx(context.Background(), nil, func(ctx context.Context, tx bun.Tx) error {
		if err := setCompany(ctx, tx, tdb.Dialect, company); err != nil {
			return err
		}
		return Append(ctx, tx, tdb.Dialect, ev)
	})
	if err != nil {
		t.Fatal(err)
	}
	if ev.CompanyID != company || ev.Seq != 1 || ev.PrevHash != Genesis {
		t.Fatalf("appended event: company %s seq %d prev %s", ev.CompanyID, ev.Seq, ev.PrevHash)
	}
	if ev.Fields[1].Before != nil || ev.Fields[1].After != nil {
		t.Fatalf("personal values were kept: %+v", ev.Fields[1])
	}
	if r := mustVerify(t, tdb.App, company); !r.OK() || r.Events != 1 {
		t.Fatalf("round trip: %v", r)
	}
	got := chain(t, tdb.Owner, company)[0]
	if got.Hash != ev.Hash || !got.OccurredAt.Equal(ev.OccurredAt) || *got.ActorID != *ev.ActorID {
		t.Fatalf("read back %+v, wrote %+v", got, ev)
	}
}

// The server's role may append and read its active company's events, nothing more.
func TestAppRoleIsAppendOnly(t *testing.T) {
	tdb := testdb.New(t)
	a, _ := newAuditor(t, tdb.App, Options{})
	mine, theirs := newID(), newID()
	start := time.Now()
	recordN(t, a, mine, 3, start)
	recordN(t, a, theirs, 2, start)
	// A checkpoint to try to change: the owner prunes mine's first two events.
	if res, err := Prune(context.Background(), tdb.Owner, mine, start.Add(90*time.Second)); err != nil || res.Deleted != 2 {
		t.Fatalf("prune: %+v, %v", res, err)
	}

	// exec runs stmt as the server's role with mine as its active company, and rolls back.
	exec := func(stmt string) error {
		tx, err := tdb.App.BeginTx(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = tx.Rollback() }()
		if err := setCompany(context.Background(), tx, tdb.Dialect, mine); err != nil {
			t.Fatal(err)
		}
		_, err = tx.ExecContext(context.Background(), stmt)
		return err
	}
	refused := func(stmt, want string) {
		t.Helper()
		err := exec(stmt)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want an error with %q", stmt, err, want)
		}
	}
	denied := "append-only" // SQLite's triggers
	if tdb.Dialect == database.Postgres {
		denied = "permission denied"
	}
	refused("UPDATE audit_events SET action = 'X' WHERE company_id = '"+mine+"'", denied)
	refused("DELETE FROM audit_events WHERE company_id = '"+mine+"'", denied)
	refused("UPDATE audit_checkpoints SET hash = 'X'", denied)
	refused("DELETE FROM audit_checkpoints", denied)
	if tdb.Dialect != database.Postgres {
		return
	}
	refused("TRUNCATE audit_events", denied)

	// Reading: only the active company's events, even when another's are asked for by id.
	var n int
	err := readTx(context.Background(), tdb.App, mine, func(ctx context.Context, tx bun.Tx) error {
		return tx.NewRaw("SELECT count(*) FROM audit_events WHERE company_id IN (?, ?)", mine, theirs).Scan(ctx, &n)
	})
	if err != nil || n != 1 {
		t.Fatalf("visible events: %d, %v; want only the active company's 1", n, err)
	}
	// Writing into another company's chain, or a checkpoint, is refused by row-level security.
	err = tdb.App.RunInTx(context.Background(), nil, func(ctx context.Context, tx bun.Tx) error {
		if err := setCompany(ctx, tx, tdb.Dialect, mine); err != nil {
			return err
		}
		e := &Event{CompanyID: theirs, Seq: 99, ID: newID(), OccurredAt: time.Now(), PrincipalKind: "SYSTEM",
			Action: "FORGED", PrevHash: Genesis, Hash: Genesis}
		_, err := tx.NewInsert().Model(&row{Event: *e}).Returning("NULL").Exec(ctx)
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "row-level security") {
		t.Errorf("insert into another company's chain: %v", err)
	}
	refused("INSERT INTO audit_checkpoints VALUES ('"+mine+"', 1, 'x', now(), now(), 'x', 'x')", "row-level security")
	// The chain of events outside any company takes inserts from anyone.
	if err := a.Record(userCtx(newID(), mine, "MEMBER"), Event{CompanyID: NoCompany, Action: ActionLoginFailed}); err != nil {
		t.Fatalf("record outside any company: %v", err)
	}
	if r := mustVerify(t, tdb.App, NoCompany); !r.OK() || r.Events != 1 {
		t.Fatalf("NoCompany chain: %v", r)
	}
	if _, err := Prune(context.Background(), tdb.App, mine, time.Now().Add(time.Hour)); err == nil {
		t.Fatal("the server's role pruned the log")
	} else if !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("prune as the server's role: %v", err)
	}
}
