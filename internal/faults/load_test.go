//go:build faults

package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/laatu/laatu/internal/database"
	"github.com/laatu/laatu/internal/seed"
)

// noKeyEnv, set to 1, makes the harness send creates without their Idempotency-Key: a
// deliberate regression, read only here, that the oracle must catch (duplicates after the
// retries). It weakens nothing in the server.
const noKeyEnv = "LAATU_FAULTS_NO_IDEMPOTENCY_KEY"

// outcome is what a client knows about one create.
type outcome int

const (
	ok      outcome = iota // acknowledged: an answer with the new document
	failed                 // a definite refusal that changed nothing (a GraphQL error that is not UNAVAILABLE)
	unknown                // no answer, a transport error, or UNAVAILABLE: applied or not, nobody knows
)

// op is one create and what became of it.
type op struct {
	key, title string
	result     outcome
	id         string
	took       time.Duration
	code       string
	replay     bool // the answer was a replay of an earlier attempt's
	dropped    bool // acknowledged, but the client threw the answer away
}

// writer creates documents as the Acme admin.
type writer struct {
	url, token, folder, template string
	noKey                        bool
}

const createDoc = `mutation($in: CreateDocumentInput!) { createDocument(input: $in) { id title } }`

func login(t *testing.T, url string) *writer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl := &http.Client{Timeout: 30 * time.Second}
	_, r, err := post(ctx, cl, url, "", "", `mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }`,
		map[string]any{"e": "admin@acme.test", "p": seed.Password})
	if err != nil || len(r.Errors) > 0 {
		t.Fatalf("login: %v %+v", err, r)
	}
	var l struct{ Login struct{ Token string } }
	_ = json.Unmarshal(r.Data, &l)
	w := &writer{url: url, token: l.Login.Token, noKey: os.Getenv(noKeyEnv) == "1"}
	_, r, err = post(ctx, cl, url, w.token, "", `{ folders(first: 1) { nodes { id } } templates(first: 1) { nodes { id } } }`, nil)
	if err != nil || len(r.Errors) > 0 {
		t.Fatalf("folders and templates: %v %+v", err, r)
	}
	var d struct {
		Folders, Templates struct{ Nodes []struct{ ID string } }
	}
	_ = json.Unmarshal(r.Data, &d)
	if len(d.Folders.Nodes) == 0 || len(d.Templates.Nodes) == 0 {
		t.Fatalf("the demo data has no folder or template: %s", r.Data)
	}
	w.folder, w.template = d.Folders.Nodes[0].ID, d.Templates.Nodes[0].ID
	return w
}

// create sends one create with its key and classifies the answer.
func (w *writer) create(ctx context.Context, cl *http.Client, o *op) {
	key := o.key
	if w.noKey {
		key = ""
	}
	start := time.Now()
	_, r, err := post(ctx, cl, w.url, w.token, key, createDoc,
		map[string]any{"in": map[string]any{"folderId": w.folder, "templateId": w.template, "title": o.title}})
	o.took = time.Since(start)
	o.code = ""
	switch {
	case err != nil || r == nil:
		o.result = unknown
		if err != nil {
			o.code = "transport"
		}
	case len(r.Errors) > 0:
		o.code, _ = r.Errors[0].Extensions["code"].(string)
		if o.code == "UNAVAILABLE" || o.code == "INTERNAL" || o.code == "" {
			o.result = unknown
		} else {
			o.result = failed
		}
	default:
		var d struct{ CreateDocument *struct{ ID, Title string } }
		if json.Unmarshal(r.Data, &d) != nil || d.CreateDocument == nil {
			o.result = unknown
			return
		}
		o.result, o.id = ok, d.CreateDocument.ID
		o.replay, _ = r.Extensions["idempotentReplay"].(bool)
	}
}

// load runs n writers until stop is closed (or maxFor passes) and returns every op.
func load(w *writer, n int, run string, stop <-chan struct{}, maxFor time.Duration, acks chan<- struct{}) []*op {
	var mu sync.Mutex
	var ops []*op
	var wg sync.WaitGroup
	end := time.Now().Add(maxFor)
	for g := 0; g < n; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			cl := &http.Client{Timeout: 60 * time.Second}
			for i := 0; time.Now().Before(end); i++ {
				select {
				case <-stop:
					return
				default:
				}
				o := &op{key: fmt.Sprintf("%s-%02d-%05d", run, g, i)}
				o.title = "faults " + o.key
				w.create(context.Background(), cl, o)
				if i%5 == 2 && o.result == ok {
					// An answer lost on the way back, which the client must treat as unknown:
					// certain to have committed, so a retry without the key would duplicate it.
					o.result, o.code, o.dropped = unknown, "answer dropped by the client", true
				}
				mu.Lock()
				ops = append(ops, o)
				mu.Unlock()
				if o.result == ok && acks != nil {
					select {
					case acks <- struct{}{}:
					default:
					}
				}
				if o.result != ok {
					time.Sleep(20 * time.Millisecond) // no hot loop against a server that is down
				}
			}
		}(g)
	}
	wg.Wait()
	return ops
}

// resolve retries every unknown op with its key until it is acknowledged (bounded).
func resolve(t *testing.T, w *writer, ops []*op) (resolved, replayed int) {
	t.Helper()
	cl := &http.Client{Timeout: 60 * time.Second}
	deadline := time.Now().Add(2 * time.Minute)
	for _, o := range ops {
		if o.result != unknown {
			continue
		}
		for {
			w.create(context.Background(), cl, o)
			if o.result == ok {
				resolved++
				if o.replay {
					replayed++
				}
				break
			}
			if o.result == failed || time.Now().After(deadline) {
				t.Errorf("retry of %s: %v %s", o.key, o.result, o.code)
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return resolved, replayed
}

// figures counts the ops by outcome.
func figures(ops []*op) (acked, fail, unk, dropped int) {
	for _, o := range ops {
		if o.dropped {
			dropped++
		}
		switch o.result {
		case ok:
			acked++
		case failed:
			fail++
		default:
			unk++
		}
	}
	return
}

// check is the oracle, read as the table owner: every acknowledged create exists exactly once
// (the resolved unknowns are acknowledged by now), with exactly one CREATE audit event, and
// every company's chain verifies (`laatu audit verify`). It returns the number lost.
func check(t *testing.T, c *cluster, ops []*op) (lost int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	owner, err := database.Open(ctx, c.ownerURL(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close()
	type row struct {
		Title  string
		N      int
		Events int
	}
	var rows []row
	if err := owner.NewRaw(`SELECT d.title, count(DISTINCT d.id) AS n,
		count(a.seq) AS events
		FROM documents d LEFT JOIN audit_events a ON a.company_id = d.company_id
		  AND a.action = 'CREATE' AND a.object_type = 'DOCUMENT' AND a.object_id = d.id::text
		WHERE d.title LIKE 'faults %' GROUP BY d.title`).Scan(ctx, &rows); err != nil {
		t.Fatalf("read documents as owner: %v", err)
	}
	byTitle := map[string]row{}
	for _, r := range rows {
		byTitle[r.Title] = r
	}
	dups := 0
	for _, o := range ops {
		if o.result != ok {
			continue
		}
		r, found := byTitle[o.title]
		switch {
		case !found:
			lost++
			t.Errorf("acknowledged create %s (document %s) is not in the database", o.key, o.id)
		case r.N != 1:
			dups++
			t.Errorf("create %s is in the database %d times", o.key, r.N)
		case r.Events != 1:
			t.Errorf("document %q has %d CREATE audit events, want 1", o.title, r.Events)
		}
	}
	if dups > 0 {
		t.Errorf("%d creates duplicated", dups)
	}
	out, err := execOut(ctx, laatuBin, "audit", "verify", "--mode", "prod", "--audit-log", "off",
		"--database-url", c.appURL(), "--admin-database-url", c.ownerURL())
	if err != nil {
		t.Errorf("laatu audit verify: %v\n%s", err, out)
	}
	return lost
}

func execOut(ctx context.Context, name string, args ...string) ([]byte, error) {
	return exec.CommandContext(ctx, name, args...).CombinedOutput()
}
