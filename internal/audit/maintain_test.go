package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/laatu/laatu/internal/access"
	"github.com/laatu/laatu/internal/testdb"
)

func TestPruneLeavesAVerifiableChain(t *testing.T) {
	tdb := testdb.New(t)
	a, _ := newAuditor(t, tdb.App, Options{})
	ctx := context.Background()
	start := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)

	company := newID()
	recordN(t, a, company, 10, start)
	res, err := Prune(ctx, tdb.Owner, company, start.Add(4*time.Minute+time.Second)) // events 1..5 are older
	if err != nil {
		t.Fatal(err)
	}
	if res.Deleted != 5 || res.Checkpoint == nil || res.Checkpoint.Seq != 5 {
		t.Fatalf("prune: %+v", res)
	}
	r := mustVerify(t, tdb.App, company)
	if !r.OK() || r.Checkpoint != 5 || r.Events != 5 || r.LastSeq != 10 {
		t.Fatalf("after prune: %v", r)
	}
	// The chain goes on after the checkpoint, and a second prune chains its checkpoint.
	recordN(t, a, company, 2, start.Add(time.Hour))
	if res, err := Prune(ctx, tdb.Owner, company, start.Add(30*time.Minute)); err != nil || res.Deleted != 5 || res.Checkpoint.PrevCheckpoint == Genesis {
		t.Fatalf("second prune: %+v, %v", res, err)
	}
	if r := mustVerify(t, tdb.App, company); !r.OK() || r.Checkpoint != 10 || r.Events != 2 || r.LastSeq != 12 {
		t.Fatalf("after second prune: %v", r)
	}
	// Nothing older: nothing done.
	if res, err := Prune(ctx, tdb.Owner, company, start); err != nil || res.Checkpoint != nil {
		t.Fatalf("empty prune: %+v, %v", res, err)
	}

	// Everything pruned: the next event follows the checkpoint.
	all := newID()
	recordN(t, a, all, 3, start)
	if _, err := Prune(ctx, tdb.Owner, all, start.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	recordN(t, a, all, 1, start.Add(2*time.Hour))
	if r := mustVerify(t, tdb.App, all); !r.OK() || r.Events != 1 || r.LastSeq != 4 {
		t.Fatalf("after pruning everything: %v", r)
	}

	// Tampering after pruning is still found: in the events, in a checkpoint, and a pruned
	// event put back.
	cases := []struct {
		name string
		stmt string
		kind ProblemKind
		seq  int64
	}{
		{"event", "UPDATE audit_events SET action = 'VIEW' WHERE company_id = '%s' AND seq = 8", Modified, 8},
		{"checkpoint", "UPDATE audit_checkpoints SET seq = 4 WHERE company_id = '%s'", Modified, 4},
		{"pruned event put back", "INSERT INTO audit_events (" + eventColumns + ") SELECT " +
			strings.Replace(eventColumns, "seq,", "3,", 1) + " FROM audit_events WHERE company_id = '%[1]s' AND seq = 7", Inserted, 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			company := newID()
			recordN(t, a, company, 8, start)
			if _, err := Prune(ctx, tdb.Owner, company, start.Add(5*time.Minute)); err != nil {
				t.Fatal(err)
			}
			tamper(t, tdb, fmt.Sprintf(tc.stmt, company))
			r := mustVerify(t, tdb.App, company)
			if r.OK() || r.Problem.Kind != tc.kind || r.Problem.Seq != tc.seq {
				t.Fatalf("got %v, want %s at %d", r, tc.kind, tc.seq)
			}
			// A tampered chain is not pruned: that would erase the evidence.
			if _, err := Prune(ctx, tdb.Owner, company, start.Add(time.Hour)); !errors.Is(err, ErrTampered) {
				t.Fatalf("pruning a tampered chain: %v", err)
			}
		})
	}
}

func TestStreamAndExport(t *testing.T) {
	tdb := testdb.New(t)
	a, stream := newAuditor(t, tdb.App, Options{})
	company := newID()
	start := time.Date(2026, 4, 1, 12, 0, 0, 0, time.UTC)
	recordN(t, a, company, 4, start)
	if err := a.Record(access.AsSystem(context.Background(), ""), Event{CompanyID: NoCompany, Action: ActionLoginFailed}); err != nil {
		t.Fatal(err)
	}

	keys := []string{"time", "company_id", "seq", "id", "action", "actor_id", "principal_kind", "principal_level",
		"grant_id", "session_id", "client_ip", "user_agent", "object_type", "object_id", "fields", "request_id",
		"operation_type", "operation_name", "operation_hash", "root_fields", "prev_hash", "hash"}
	lines := stream.lines(t)
	if len(lines) != 5 {
		t.Fatalf("%d stream lines, want 5", len(lines))
	}
	events := chain(t, tdb.Owner, company)
	for i, l := range lines[:4] {
		for _, k := range keys {
			if _, ok := l[k]; !ok {
				t.Fatalf("line %d lacks %q: %v", i, k, l)
			}
		}
		e := events[i]
		if l["seq"] != float64(e.Seq) || l["hash"] != e.Hash || l["company_id"] != company || l["client_ip"] != "192.0.2.7" ||
			l["time"] != e.OccurredAt.Format(timeLayout) || l["actor_id"] != *e.ActorID {
			t.Fatalf("line %d: %v, event %+v", i, l, e)
		}
		if f := l["fields"].([]any)[0].(map[string]any); f["field"] != "title" || f["after"] != "new" {
			t.Fatalf("line %d fields: %v", i, l["fields"])
		}
	}
	if last := lines[4]; last["company_id"] != NoCompany || last["actor_id"] != nil || last["principal_kind"] != "SYSTEM" {
		t.Fatalf("event outside any company: %v", last)
	}

	// Export writes the same lines, within the range asked for.
	var out bytes.Buffer
	n, err := Export(context.Background(), tdb.App, company, start.Add(time.Minute), start.Add(3*time.Minute), &out)
	if err != nil || n != 2 {
		t.Fatalf("export: %d, %v", n, err)
	}
	sc := bufio.NewScanner(&out)
	for i := 1; sc.Scan(); i++ {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		if m["hash"] != lines[i]["hash"] || len(m) != len(lines[i]) {
			t.Fatalf("export line %v, stream line %v", m, lines[i])
		}
	}
}
