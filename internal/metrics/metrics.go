// Package metrics holds Laatu's Prometheus metrics: one Registry per server (never the global
// default, so that tests and several servers in one process stay apart), the gqlgen extension
// that measures every operation, and the admin handler that serves /metrics and pprof.
//
// Labels are bounded: an operation name is chosen by the client, so only the first
// MaxOperationNames distinct names get a series of their own and the rest share "other";
// an operation without a name is "anonymous".
package metrics

import (
	"context"
	"database/sql"
	"net/http"
	"net/http/pprof"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/vektah/gqlparser/v2/ast"
)

// MaxOperationNames is how many distinct operation names get series of their own.
const MaxOperationNames = 200

// maxNameLen bounds an operation name used as a label.
const maxNameLen = 100

// Label values for operations without a usable name.
const (
	Anonymous = "anonymous"
	Other     = "other"
	// Invalid names a request refused before it became an operation (a document that does
	// not parse or validate). One over a query limit keeps its own name and type.
	Invalid = "invalid"
)

// Metrics is the set of a server's metrics and the registry that holds them.
type Metrics struct {
	Registry *prometheus.Registry

	operations *prometheus.CounterVec
	errors     *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	loginFails prometheus.Counter
	throttled  prometheus.Counter
	rateLimit  *prometheus.CounterVec
	overload   *prometheus.CounterVec
	redisFails prometheus.Counter

	mu    sync.Mutex
	names map[string]struct{}
}

// New returns the metrics of one server on a registry of their own, with the Go runtime's
// and the process's collectors.
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		names:    map[string]struct{}{},
		operations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "laatu_graphql_operations_total",
			Help: "GraphQL operations received, by operation name and type (query, mutation, subscription; invalid when the document does not parse or validate).",
		}, []string{"operation", "type"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "laatu_graphql_errors_total",
			Help: "GraphQL errors returned, by operation name, type and extensions.code.",
		}, []string{"operation", "type", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "laatu_graphql_operation_duration_seconds",
			Help:    "Time to answer a query or mutation, from the start of its execution to its response.",
			Buckets: []float64{.0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 15},
		}, []string{"operation", "type"}),
		loginFails: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "laatu_login_failures_total",
			Help: "Failed logins (wrong address or password, disabled account).",
		}),
		throttled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "laatu_login_throttled_total",
			Help: "Login and password-reset attempts refused by the back-off on an account or a client address.",
		}),
		rateLimit: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "laatu_rate_limit_rejections_total",
			Help: "Operations refused with 429 RATE_LIMITED, by the budget that was spent (user, company, ip).",
		}, []string{"scope"}),
		redisFails: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "laatu_rate_limit_redis_errors_total",
			Help: "Rate-limit charges that Redis (--redis-url) failed to answer; the instance's own buckets decided those.",
		}),
		overload: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "laatu_overload_rejections_total",
			Help: "Requests refused with 503 UNAVAILABLE because too many were in flight, on the instance or for one company.",
		}, []string{"scope"}),
	}
	for _, scope := range []string{"user", "company", "ip"} {
		m.rateLimit.WithLabelValues(scope) // zero series to alert on before the first rejection
	}
	for _, scope := range []string{"instance", "company"} {
		m.overload.WithLabelValues(scope)
	}
	m.Registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.operations, m.errors, m.duration, m.loginFails, m.throttled, m.rateLimit, m.overload, m.redisFails,
	)
	return m
}

// WatchDB adds the statistics of a connection pool (open, in use, idle, waits and time
// waited) as the go_sql_* metrics with db_name=name.
func (m *Metrics) WatchDB(name string, db *sql.DB) error {
	return m.Registry.Register(collectors.NewDBStatsCollector(db, name))
}

// Gauge adds a gauge read from f at each scrape (live connections, open streams).
func (m *Metrics) Gauge(name, help string, f func() float64) error {
	return m.Registry.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
}

// LoginFailed counts a failed login.
func (m *Metrics) LoginFailed() { m.loginFails.Inc() }

// LoginThrottled counts an attempt refused by the login back-off.
func (m *Metrics) LoginThrottled() { m.throttled.Inc() }

// RateLimited counts an operation refused for its budget of scope (user, company, ip).
func (m *Metrics) RateLimited(scope string) { m.rateLimit.WithLabelValues(scope).Inc() }

// RedisFailed counts a rate-limit charge that Redis failed to answer.
func (m *Metrics) RedisFailed() { m.redisFails.Inc() }

// Overloaded counts a request refused because too many were in flight (instance, company).
func (m *Metrics) Overloaded(scope string) { m.overload.WithLabelValues(scope).Inc() }

// operationLabel bounds the operation names that become label values.
func (m *Metrics) operationLabel(name string) string {
	if name == "" {
		return Anonymous
	}
	if len(name) > maxNameLen {
		return Other
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.names[name]; ok {
		return name
	}
	if len(m.names) >= MaxOperationNames {
		return Other
	}
	m.names[name] = struct{}{}
	return name
}

// Handler serves /metrics (the registry, in Prometheus' text or OpenMetrics format) and
// net/http/pprof's profiles under /debug/pprof/. It belongs on the admin listener only.
func (m *Metrics) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry}))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "not found: the admin listener serves /metrics and /debug/pprof/", http.StatusNotFound)
	})
	return mux
}

// Extension returns the gqlgen extension that counts and times operations. Add it before
// every other extension, so that it sees each response as the client gets it.
func (m *Metrics) Extension() graphql.HandlerExtension { return extension{m} }

type extension struct{ m *Metrics }

var _ interface {
	graphql.HandlerExtension
	graphql.OperationInterceptor
	graphql.ResponseInterceptor
} = extension{}

func (extension) ExtensionName() string                   { return "Metrics" }
func (extension) Validate(graphql.ExecutableSchema) error { return nil }

// InterceptOperation counts subscriptions when they start: their responses are events, each
// of which is counted for its errors but neither as an operation nor timed.
func (e extension) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	if oc := graphql.GetOperationContext(ctx); oc.Operation != nil && oc.Operation.Operation == ast.Subscription {
		e.m.operations.WithLabelValues(e.m.operationLabel(oc.Operation.Name), string(ast.Subscription)).Inc()
	}
	return next(ctx)
}

// InterceptResponse counts and times queries and mutations, and counts every response's
// errors by code. Requests refused before they ran pass here too (gqlgen's DispatchError).
func (e extension) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	start := time.Now()
	resp := next(ctx)
	name, typ := Invalid, Invalid
	if graphql.HasOperationContext(ctx) {
		oc := graphql.GetOperationContext(ctx)
		switch {
		case oc.Operation != nil:
			name, typ = e.m.operationLabel(oc.Operation.Name), string(oc.Operation.Operation)
		case oc.Doc != nil && oc.Doc.Operations.ForName(oc.OperationName) != nil:
			// Parsed but refused (validation, a query limit): named as the client named it.
			name = e.m.operationLabel(oc.Doc.Operations.ForName(oc.OperationName).Name)
		case oc.OperationName != "":
			name = e.m.operationLabel(oc.OperationName)
		}
	}
	if resp == nil {
		return nil // a subscription's end
	}
	if typ != string(ast.Subscription) {
		e.m.operations.WithLabelValues(name, typ).Inc()
		if typ != Invalid {
			e.m.duration.WithLabelValues(name, typ).Observe(time.Since(start).Seconds())
		}
	}
	for _, err := range resp.Errors {
		code, _ := err.Extensions["code"].(string)
		if code == "" {
			code = "UNKNOWN"
		}
		if len(code) > 32 {
			code = Other
		}
		e.m.errors.WithLabelValues(name, typ, code).Inc()
	}
	return resp
}
