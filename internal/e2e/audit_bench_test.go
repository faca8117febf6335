package e2e

import (
	"fmt"
	"testing"

	"github.com/laatu/laatu/internal/app"
	"github.com/laatu/laatu/internal/config"
	"github.com/laatu/laatu/internal/testdb"
	"github.com/laatu/laatu/internal/testserver"
)

// dozenQuery is a read of about a dozen audited objects for the demo manager: folders →
// documents → owner, template, comments.
const dozenQuery = `{ folders(first: 10) { nodes { name documents(first: 5) { nodes { title status values
  owner { name } template { name } comments(first: 3) { nodes { body author { name } } } } } } } }`

// BenchmarkAuditViews measures reads with view auditing on and off, at several concurrencies,
// through the HTTP handler: the nested read of BenchmarkNestedRead (folders, their documents
// with owner and template, their comments with authors, as the demo admin; 17 audited objects)
// and the smaller dozenQuery. Run it on PostgreSQL (bench/audit-floor/README.md):
//
//	TEST_DATABASE_URL=... go test ./internal/e2e -run '^$' -bench AuditViews -benchtime 800x -count 4
func BenchmarkAuditViews(b *testing.B) {
	reads := []struct {
		name, who string
		body      testserver.Request
	}{
		{"nested", "admin@acme.test", testserver.Request{Query: fNPlusOneQuery, Variables: map[string]any{"n": 3, "m": 10, "k": 5}}},
		{"dozen", "manager@acme.test", testserver.Request{Query: dozenQuery}},
	}
	for _, views := range []bool{false, true} {
		var opts []app.Option
		name := "views=off"
		if views {
			name = "views=on"
		} else {
			opts = append(opts, app.WithoutViewAudit())
		}
		// Wired as a server is: on PostgreSQL with its listener, so that what the audit log
		// publishes for subscribers (pg_notify) is part of what is measured.
		db := testdb.New(b)
		s := testserver.NewWith(b, db, opts, func(c *config.Config) { c.DatabaseURL = db.AppURL })
		for _, read := range reads {
			req := read.body
			req.Token = s.Login(b, read.who)
			for _, par := range []int{1, 4, 16} {
				b.Run(fmt.Sprintf("read=%s/%s/clients=%d", read.name, name, par), func(b *testing.B) {
					b.SetParallelism(par)
					b.ResetTimer()
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							res := s.Do(b, req, nil)
							if len(res.Errors) > 0 {
								b.Errorf("errors: %+v", res.Errors)
								return
							}
						}
					})
				})
			}
		}
	}
}
