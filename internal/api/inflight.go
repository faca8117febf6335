package api

import (
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/laatu/laatu/internal/access"
)

// inFlight bounds the queries and mutations served at once, by the instance and by company.
// A request over either bound is answered UNAVAILABLE (503, Retry-After) at once: queueing it
// would only make it wait on the connection pool with the others and fail later, at its
// deadline, after holding memory and a goroutine all along. Streams are bounded by their own
// caps (subscribe.Options) and are not counted.
type inFlight struct {
	max, perCompany int64
	total           atomic.Int64
	mu              sync.Mutex
	byTenant        map[string]int64
	refused         func(scope string)
}

func newInFlight(max, perCompany int, refused func(scope string)) *inFlight {
	if refused == nil {
		refused = func(string) {}
	}
	return &inFlight{max: int64(max), perCompany: int64(perCompany), byTenant: map[string]int64{}, refused: refused}
}

// instance admits a request under the instance's bound. It runs before authentication, so
// that a flood does not even reach the session lookups.
func (f *inFlight) instance(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f.max <= 0 || isStream(r) {
			next.ServeHTTP(w, r)
			return
		}
		if f.total.Add(1) > f.max {
			f.total.Add(-1)
			f.refused("instance")
			writeUnavailable(w, "the server is busy; try again")
			return
		}
		defer f.total.Add(-1)
		next.ServeHTTP(w, r)
	})
}

// tenant admits a request under its company's bound: the active company of a member, the
// user for a guest (whose company is known only from the object it reaches). Anonymous
// requests (logins) count against the instance only; password hashing has its own bound.
func (f *inFlight) tenant(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := access.FromContext(r.Context())
		key := ""
		switch {
		case p == nil:
		case p.CompanyID != "":
			key = "company:" + p.CompanyID
		case p.UserID != "":
			key = "user:" + p.UserID
		}
		if f.perCompany <= 0 || key == "" || isStream(r) {
			next.ServeHTTP(w, r)
			return
		}
		f.mu.Lock()
		n := f.byTenant[key]
		if n >= f.perCompany {
			f.mu.Unlock()
			f.refused("company")
			writeUnavailable(w, "too many requests of this company at once; try again")
			return
		}
		f.byTenant[key] = n + 1
		f.mu.Unlock()
		defer func() {
			f.mu.Lock()
			if f.byTenant[key]--; f.byTenant[key] == 0 {
				delete(f.byTenant, key)
			}
			f.mu.Unlock()
		}()
		next.ServeHTTP(w, r)
	})
}
