package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/laatu/laatu/internal/access"
	"github.com/laatu/laatu/internal/database"
	"github.com/laatu/laatu/internal/errs"
	"github.com/laatu/laatu/internal/testdb"
)

// TestCLI runs the audit commands as `laatu audit` does (internal/cli parses their flags and
// tests the usage errors).
func TestCLI(t *testing.T) {
	tdb := testdb.New(t)
	ctx := context.Background()
	var stdout, stderr bytes.Buffer
	cmd := Command{DB: tdb.App, Owner: tdb.Owner, Stdout: &stdout, Stderr: &stderr}
	run := func(f func() error) (string, string, error) {
		stdout.Reset()
		stderr.Reset()
		err := f()
		return stdout.String(), stderr.String(), err
	}
	verify := func(company string) func() error { return func() error { return cmd.Verify(ctx, company) } }
	if tdb.Dialect == database.Postgres {
		// Without the owner, the server's role could not see every chain: refused, not "ok".
		noOwner := Command{DB: tdb.App, Stdout: io.Discard, Stderr: io.Discard}
		if err := noOwner.Verify(ctx, ""); err == nil || !strings.Contains(err.Error(), "DATABASE_ADMIN_URL") {
			t.Fatalf("verify without the owner: %v", err)
		}
	}
	if out, _, err := run(verify("")); err != nil || !strings.Contains(out, "no audit events") {
		t.Fatalf("verify on an empty log: %v %q", err, out)
	}
	a, _ := newAuditor(t, tdb.App, Options{})
	intact, broken := newID(), newID()
	start := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	recordN(t, a, intact, 4, start)
	recordN(t, a, broken, 4, start)
	if out, errOut, err := run(verify("")); err != nil || strings.Count(out, ": ok") != 2 {
		t.Fatalf("verify: %v %q %q", err, out, errOut)
	}
	tamper(t, tdb, fmt.Sprintf("DELETE FROM audit_events WHERE company_id = '%s' AND seq = 2", broken))
	if _, errOut, err := run(verify("")); !errors.Is(err, ErrTampered) || !strings.Contains(errOut, "DELETED at seq 2") {
		t.Fatalf("verify after tampering: %v %q", err, errOut)
	}
	if _, _, err := run(verify(intact)); err != nil {
		t.Fatalf("verify --company of the intact chain: %v", err)
	}
	if _, errOut, err := run(verify(broken)); !errors.Is(err, ErrTampered) || !strings.Contains(errOut, broken) {
		t.Fatalf("verify --company of the broken chain: %v %q", err, errOut)
	}

	out, errOut, err := run(func() error { return cmd.Export(ctx, intact, start.Add(time.Minute), time.Time{}) })
	if err != nil || strings.Count(out, "\n") != 3 || !strings.Contains(errOut, "exported 3 events") {
		t.Fatalf("export: %v %q %q", err, out, errOut)
	}
	out, _, err = run(func() error { return cmd.Prune(ctx, intact, start.Add(2*time.Minute)) })
	if err != nil || !strings.Contains(out, "pruned 2 events; checkpoint at seq 2") {
		t.Fatalf("prune: %v %q", err, out)
	}
	if _, _, err := run(func() error { return cmd.Prune(ctx, broken, start.Add(time.Hour)) }); err == nil ||
		!strings.Contains(err.Error(), "does not verify") {
		t.Fatalf("prune of a tampered chain: %v", err)
	}
}

func TestScope(t *testing.T) {
	tdb := testdb.New(t)
	a, _ := newAuditor(t, tdb.App, Options{})
	schema := gqlparser.MustLoadSchema(&ast.Source{Input: "type Query { documents: Int folders: Int }"})
	query := "query Docs { documents ...F } fragment F on Query { folders documents }"
	doc, gerr := gqlparser.LoadQueryWithRules(schema, query, nil)
	if gerr != nil {
		t.Fatal(gerr)
	}
	oc := &graphql.OperationContext{RawQuery: query, Doc: doc, Operation: doc.Operations[0], OperationName: "Docs", Variables: map[string]any{}}
	company, object := newID(), newID()
	ctx := graphql.WithOperationContext(userCtx(newID(), company, access.Member), oc)

	sum := sha256.Sum256([]byte(query))
	wantOp := Operation{Type: "query", Name: "Docs", Hash: hex.EncodeToString(sum[:]), RootFields: []string{"documents", "folders"}}
	if got := OperationOf(oc); !reflect.DeepEqual(got, wantOp) {
		t.Fatalf("OperationOf: %+v, want %+v", got, wantOp)
	}
	want := &graphql.Response{Data: []byte(`{"documents":1}`)}
	resp, err := a.Scope(ctx, func(ctx context.Context) *graphql.Response {
		CollectorFrom(ctx).Add(company, ObjectDocument, object, "title")
		return want
	})
	if err != nil || resp != want {
		t.Fatalf("scope: %v, %v", resp, err)
	}
	events := chain(t, tdb.Owner, company)
	if len(events) != 1 || events[0].ObjectID != object || events[0].OperationHash != wantOp.Hash ||
		!reflect.DeepEqual(events[0].RootFields, wantOp.RootFields) {
		t.Fatalf("view events: %+v", events)
	}

	// The audit log is down: the response does not leave.
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	resp, err = a.Scope(ctx, func(ctx context.Context) *graphql.Response {
		CollectorFrom(ctx).Add(company, ObjectDocument, object, "title")
		return want
	})
	if resp != nil || errs.KindOf(err) != errs.Internal {
		t.Fatalf("scope with the log down: %v, %v", resp, err)
	}
}
