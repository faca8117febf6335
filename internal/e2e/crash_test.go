package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/uptrace/bun"

	"github.com/laatu/laatu/internal/app"
	"github.com/laatu/laatu/internal/audit"
	"github.com/laatu/laatu/internal/auth/password"
	"github.com/laatu/laatu/internal/config"
	"github.com/laatu/laatu/internal/database"
	"github.com/laatu/laatu/internal/storage"
	"github.com/laatu/laatu/internal/testserver"
)

// The crash child's instructions, passed through the environment.
const (
	crashChildEnv = "LAATU_CRASH_CHILD"
	crashURLEnv   = "LAATU_CRASH_DATABASE_URL"
	crashPathEnv  = "LAATU_CRASH_SQLITE_PATH"
	crashDocEnv   = "LAATU_CRASH_DOCUMENT"
	crashVerEnv   = "LAATU_CRASH_VERSION"
)

// TestAuditCrashBetweenChangeAndCommit kills a server process after it has written a change
// and its audit event in the change's transaction, before the commit: afterwards neither the
// change nor the event exists, and the company's chain still verifies.
func TestAuditCrashBetweenChangeAndCommit(t *testing.T) {
	if os.Getenv(crashChildEnv) == "1" {
		crashChild(t)
		return
	}
	t.Parallel()
	s := testserver.New(t)
	manager, admin := s.Login(t, "manager@acme.test"), s.Login(t, "admin@acme.test")
	var data struct {
		Documents struct {
			Nodes []struct {
				ID, Title string
				Version   int
			}
		}
	}
	fOK(t, s, manager, `{ documents(first: 1) { nodes { id title version } } }`, nil, &data)
	doc := data.Documents.Nodes[0]
	updatesBefore := len(aeEvents(t, s, admin, map[string]any{"object": doc.ID, "action": "UPDATE"}))

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestAuditCrashBetweenChangeAndCommit$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"=1", crashURLEnv+"="+s.DB.AppURL, crashPathEnv+"="+s.DB.Path,
		crashDocEnv+"="+doc.ID, crashVerEnv+"="+strconv.Itoa(doc.Version))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if line := sc.Text(); strings.HasPrefix(line, "READY ") || strings.HasPrefix(line, "FAILED ") {
				ready <- line
				break
			}
		}
		close(ready)
		_, _ = io.Copy(io.Discard, out)
	}()
	var line string
	select {
	case line = <-ready:
	case <-ctx.Done():
	}
	// The crash: no deferred function, no rollback, no goodbye to the database.
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if !strings.HasPrefix(line, "READY ") {
		t.Fatalf("the child did not reach the commit point: %q\n%s", line, stderr.String())
	}
	if n, _ := strconv.Atoi(strings.TrimPrefix(line, "READY ")); n != updatesBefore+1 {
		t.Fatalf("inside the transaction the child saw %d UPDATE events for the document, want %d: the test would prove nothing", n, updatesBefore+1)
	}

	var after struct {
		Document struct {
			Title   string
			Version int
		}
	}
	fOK(t, s, manager, `query($id: ID!) { document(id: $id) { title version } }`, map[string]any{"id": doc.ID}, &after)
	if after.Document.Title != doc.Title || after.Document.Version != doc.Version {
		t.Errorf("after the crash the document is %+v, want the old title %q and version %d", after.Document, doc.Title, doc.Version)
	}
	if n := len(aeEvents(t, s, admin, map[string]any{"object": doc.ID, "action": "UPDATE"})); n != updatesBefore {
		t.Errorf("after the crash %d UPDATE events, want %d", n, updatesBefore)
	}
	// The server goes on: the same change now commits, with its event, and the chain is whole.
	fOK(t, s, manager, `mutation($id: ID!, $in: UpdateDocumentInput!) { updateDocument(id: $id, input: $in) { version } }`,
		map[string]any{"id": doc.ID, "in": map[string]any{"expectedVersion": doc.Version, "title": "After the crash"}}, nil)
	if n := len(aeEvents(t, s, admin, map[string]any{"object": doc.ID, "action": "UPDATE"})); n != updatesBefore+1 {
		t.Errorf("after a committed update %d UPDATE events, want %d", n, updatesBefore+1)
	}
	reports, err := audit.VerifyAll(context.Background(), s.DB.Owner)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range reports {
		if r.Problem != nil {
			t.Errorf("chain of %s: %+v", r.CompanyID, r.Problem)
		}
	}
}

// crashChild runs the real server wiring over the parent's database, updates the document as
// the manager through GraphQL, and stops inside the transaction after the audit hook has
// written the event: it reports READY and waits to be killed.
func crashChild(t *testing.T) {
	ctx := context.Background()
	fail := func(err error) {
		fmt.Printf("FAILED %v\n", err)
		select {} // wait for the parent's kill
	}
	db, err := database.Open(ctx, os.Getenv(crashURLEnv), os.Getenv(crashPathEnv))
	if err != nil {
		fail(err)
	}
	cfg, _, err := config.Load("crash", nil, func(string) string { return "" }, io.Discard)
	if err != nil {
		fail(err)
	}
	cfg.AuditLog = "off"
	hasher, err := password.NewHasher(testserver.CheapHash, 2)
	if err != nil {
		fail(err)
	}
	a, err := app.New(ctx, cfg, zerolog.Nop(), db, hasher)
	if err != nil {
		fail(err)
	}
	doc := os.Getenv(crashDocEnv)
	// After the audit hook, within the same transaction: count the document's UPDATE events
	// as the transaction sees them, tell the parent, and hang until killed.
	a.Store.OnChange(func(ctx context.Context, tx bun.IDB, ch storage.Change, _ func(func())) error {
		if ch.ObjectID != doc {
			return nil
		}
		var n int
		if err := tx.NewSelect().Table("audit_events").ColumnExpr("count(*)").
			Where("object_id = ? AND action = ?", doc, "UPDATE").Scan(ctx, &n); err != nil {
			fmt.Printf("FAILED %v\n", err)
		} else {
			fmt.Printf("READY %d\n", n)
		}
		select {}
	})
	hs := httptest.NewServer(a.Handler)
	s := &testserver.Server{URL: hs.URL}
	token := aLogin(t, s, "manager@acme.test", "laatu-demo-password")
	version, _ := strconv.Atoi(os.Getenv(crashVerEnv))
	s.Do(t, testserver.Request{Token: token,
		Query:     `mutation($id: ID!, $in: UpdateDocumentInput!) { updateDocument(id: $id, input: $in) { version } }`,
		Variables: map[string]any{"id": doc, "in": map[string]any{"expectedVersion": version, "title": "Never committed"}}}, nil)
	fail(fmt.Errorf("the update returned: the hook did not hold it"))
}
