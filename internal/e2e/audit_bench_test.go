package e2e

import (
	"fmt"
	"testing"

	"github.com/laatu/laatu/internal/app"
	"github.com/laatu/laatu/internal/config"
	"github.com/laatu/laatu/internal/testdb"
	"github.com/laatu/laatu/internal/testserver"
)

// nestedQuery is the read the audit benchmark measures: folders → documents → owner,
// template, comments: about a dozen audited objects per response for the demo manager.
const nestedQuery = `{ folders(first: 10) { nodes { name documents(first: 5) { nodes { title status values
  owner { name } template { name } comments(first: 3) { nodes { body author { name } } } } } } } }`

// BenchmarkAuditViews measures the nested read with view auditing on and off, at several
// concurrencies, through the HTTP handler. Run it on PostgreSQL (README, "The audit log"):
//
//	TEST_DATABASE_URL=... go test ./internal/e2e -run '^$' -bench AuditViews -benchtime 300x -count 3
func BenchmarkAuditViews(b *testing.B) {
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
		token := s.Login(b, "manager@acme.test")
		for _, par := range []int{1, 4, 16} {
			b.Run(fmt.Sprintf("%s/clients=%d", name, par), func(b *testing.B) {
				b.SetParallelism(par)
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						res := s.Do(b, testserver.Request{Query: nestedQuery, Token: token}, nil)
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
