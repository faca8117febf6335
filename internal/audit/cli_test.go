package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
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

func TestCLI(t *testing.T) {
	tdb := testdb.New(t)
	run := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := RunCLI(context.Background(), args, tdb.App, tdb.Owner, &out, &errOut)
		return code, out.String(), errOut.String()
	}
	if tdb.Dialect == database.Postgres {
		// Without the owner, the server's role could not see every chain: refused, not "ok".
		var errOut bytes.Buffer
		if code := RunCLI(context.Background(), []string{"verify"}, tdb.App, nil, io.Discard, &errOut); code != 1 ||
			!strings.Contains(errOut.String(), "DATABASE_ADMIN_URL") {
			t.Fatalf("verify without the owner: %d %q", code, errOut.String())
		}
	}
	if code, out, _ := run("verify"); code != 0 || !strings.Contains(out, "no audit events") {
		t.Fatalf("verify on an empty log: %d %q", code, out)
	}
	a, _ := newAuditor(t, tdb.App, Options{})
	intact, broken := newID(), newID()
	start := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	recordN(t, a, intact, 4, start)
	recordN(t, a, broken, 4, start)
	if code, out, errOut := run("verify"); code != 0 || strings.Count(out, ": ok") != 2 {
		t.Fatalf("verify: %d %q %q", code, out, errOut)
	}
	tamper(t, tdb, fmt.Sprintf("DELETE FROM audit_events WHERE company_id = '%s' AND seq = 2", broken))
	if code, _, errOut := run("verify"); code != 1 || !strings.Contains(errOut, "DELETED at seq 2") {
		t.Fatalf("verify after tampering: %d %q", code, errOut)
	}
	if code, _, _ := run("verify", "--company", intact); code != 0 {
		t.Fatalf("verify --company of the intact chain: %d", code)
	}
	if code, _, errOut := run("verify", "--company", broken); code != 1 || !strings.Contains(errOut, broken) {
		t.Fatalf("verify --company of the broken chain: %d %q", code, errOut)
	}

	code, out, errOut := run("export", "--company", intact, "--from", start.Add(time.Minute).Format(time.RFC3339))
	if code != 0 || strings.Count(out, "\n") != 3 || !strings.Contains(errOut, "exported 3 events") {
		t.Fatalf("export: %d %q %q", code, out, errOut)
	}
	code, out, _ = run("prune", "--company", intact, "--before", start.Add(2*time.Minute).Format(time.RFC3339))
	if code != 0 || !strings.Contains(out, "pruned 2 events; checkpoint at seq 2") {
		t.Fatalf("prune: %d %q", code, out)
	}
	if code, _, errOut := run("prune", "--company", broken, "--before", start.Add(time.Hour).Format(time.RFC3339)); code != 1 ||
		!strings.Contains(errOut, "does not verify") {
		t.Fatalf("prune of a tampered chain: %d %q", code, errOut)
	}
	for _, args := range [][]string{
		{}, {"bogus"}, {"export"}, {"prune", "--company", intact}, {"export", "--company", intact, "--from", "yesterday"},
		{"verify", "extra"}, {"verify", "--nope"},
	} {
		if code, _, _ := run(args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}

func TestScope(t *testing.T) {
	tdb := testdb.New(t)
	a, _ := newAuditor(t, tdb.App, Options{})
	schema := gqlparser.MustLoadSchema(&ast.Source{Input: "type Query { documents: Int folders: Int }"})
	query := "query Docs { documents ...F } fragment F on Query { folders documents }"
	doc, gerr := gqlparser.LoadQuery(schema, query)
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
