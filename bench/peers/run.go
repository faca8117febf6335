package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/laatu/laatu/internal/benchdata"
	"github.com/laatu/laatu/internal/database"
)

// The read of issue 10 on each server: 10 folders, 20 documents each, each with its owner's name.
const (
	laatuNested = `{ folders(first: 10) { nodes { id name restricted documents(first: 20) { nodes { id title owner { name } } } } } }`
	pglNested   = `{ allFolders(first: 10, orderBy: [NAME_ASC, ID_ASC], condition: {parentId: null, restricted: false, deletedAt: null}) { nodes { id name restricted documentsByCompanyIdAndFolderId(first: 20, orderBy: [UPDATED_AT_DESC, ID_DESC], condition: {deletedAt: null}) { nodes { id title userByOwnerId { name } } } } } }`
	typename    = `{ __typename }`
)

// floorSQL is the best hand-written query for the nested read's rows, run by pgbench as the
// server's role inside a transaction with the settings Laatu's transactions carry, so the same
// row-level security policies apply.
const floorSQL = `BEGIN;
SELECT set_config('app.company_id', :cid, true), set_config('app.user_id', :uid, true);
SELECT f.id, f.name, d.id, d.title, u.name
FROM (SELECT id, name FROM folders
      WHERE company_id = :cid::uuid AND parent_id IS NULL AND deleted_at IS NULL AND NOT restricted
      ORDER BY name, id LIMIT 10) f
CROSS JOIN LATERAL (SELECT id, title, owner_id, updated_at FROM documents
      WHERE company_id = :cid::uuid AND folder_id = f.id AND deleted_at IS NULL
      ORDER BY updated_at DESC, id DESC LIMIT 20) d
JOIN users u ON u.id = d.owner_id
ORDER BY f.name, f.id, d.updated_at DESC, d.id DESC;
COMMIT;
`

// Names of what the bench creates on the cluster; it drops only these.
const (
	dbLaatu  = "laatu_bench"
	dbPGL    = "laatu_bench_pgl"
	dbScale  = "laatu_bench_scale"
	appRole  = "laatu_bench_app"
	pglRole  = "laatu_bench_pgl_user"
	jwtAud   = "postgraphile"
	maxConns = 90 // leave the shared cluster (max_connections 100) room for others
)

type runOpts struct {
	mode        string
	adminURL    string
	laatuBin    string
	pglBin      string
	pgbench     string
	dir         string
	docs        int
	companies   int
	rounds      int
	dur, warm   time.Duration
	conc        []int
	scaleDocs   []int
	jit         string
	keep        bool
	skipPGL     bool
	skipSQLite  bool
	pglWorkers  int
	explainOnly bool
}

func runCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	o := runOpts{}
	var conc, scale string
	fs.StringVar(&o.mode, "mode", "peers", "peers (Laatu beside PostGraphile and the SQL floor), scale (Laatu alone at c1 by company size), explain")
	fs.StringVar(&o.adminURL, "admin-url", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", "PostgreSQL URL of a role that creates databases and roles (trust auth, loopback)")
	fs.StringVar(&o.laatuBin, "laatu", "", "the laatu binary (built by run.sh)")
	fs.StringVar(&o.pglBin, "postgraphile", "", "the postgraphile CLI (installed by run.sh)")
	fs.StringVar(&o.pgbench, "pgbench", "pgbench", "the pgbench binary")
	fs.StringVar(&o.dir, "dir", "", "directory for logs and results (default: a new one under bench/peers/out)")
	fs.IntVar(&o.docs, "docs-per-company", 10_000, "documents per company (peers mode)")
	fs.IntVar(&o.companies, "companies", 10, "companies (peers mode; scale mode uses 3)")
	fs.IntVar(&o.rounds, "rounds", 3, "measured rounds")
	fs.DurationVar(&o.dur, "duration", 10*time.Second, "length of one measured run")
	fs.DurationVar(&o.warm, "warmup", 3*time.Second, "warm-up per server and query")
	fs.StringVar(&conc, "c", "8,32,64", "concurrency levels (peers mode)")
	fs.StringVar(&scale, "scale-docs", "1000,10000,100000", "documents per company (scale mode)")
	fs.StringVar(&o.jit, "jit", "", "set jit on or off for the bench databases (ALTER DATABASE); empty leaves the cluster's setting")
	fs.BoolVar(&o.keep, "keep", false, "keep the databases afterwards")
	fs.BoolVar(&o.skipPGL, "no-postgraphile", false, "peers mode without PostGraphile")
	fs.BoolVar(&o.skipSQLite, "no-sqlite", false, "scale mode without SQLite")
	fs.IntVar(&o.pglWorkers, "cluster-workers", 2, "PostGraphile's --cluster-workers")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var err error
	if o.conc, err = ints(conc); err != nil {
		return err
	}
	if o.scaleDocs, err = ints(scale); err != nil {
		return err
	}
	if o.laatuBin == "" {
		return errors.New("run: --laatu is required (run.sh builds it)")
	}
	if err := loopback(o.adminURL); err != nil {
		return err
	}
	if o.dir == "" {
		o.dir = filepath.Join("bench", "peers", "out", time.Now().UTC().Format("20060102-150405"))
	}
	if err := os.MkdirAll(o.dir, 0o755); err != nil {
		return err
	}
	// The whole run is bounded, whatever happens.
	ctx, cancel := context.WithTimeout(ctx, 40*time.Minute)
	defer cancel()
	var report string
	switch o.mode {
	case "peers", "explain":
		o.explainOnly = o.mode == "explain"
		report, err = runPeers(ctx, o)
	case "scale":
		report, err = runScale(ctx, o)
	default:
		return fmt.Errorf("run: unknown mode %q", o.mode)
	}
	if report != "" {
		fmt.Println(report)
		_ = os.WriteFile(filepath.Join(o.dir, "results.md"), []byte(report), 0o644)
		fmt.Fprintf(os.Stderr, "results in %s\n", o.dir)
	}
	return err
}

func ints(s string) ([]int, error) {
	var out []int
	for _, p := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("bad number %q", p)
		}
		out = append(out, n)
	}
	return out, nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s  %s\n", time.Now().UTC().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// withDB returns base with its database and, when user is set, its user replaced.
func withDB(base, db, user string) string {
	u, err := url.Parse(base)
	if err != nil {
		panic(err)
	}
	u.Path = "/" + db
	if user != "" {
		u.User = url.User(user)
	}
	return u.String()
}

// hostPort returns the host:port of a PostgreSQL URL.
func hostPort(raw string) string {
	u, _ := url.Parse(raw)
	if u.Port() == "" {
		return net.JoinHostPort(u.Hostname(), "5432")
	}
	return u.Host
}

func adminExec(ctx context.Context, adminURL string, stmts ...string) error {
	db, err := database.Open(ctx, adminURL, "")
	if err != nil {
		return err
	}
	defer db.Close()
	for _, s := range stmts {
		if _, err := db.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
	}
	return nil
}

// freshDB drops (only) the bench's own database name and creates it again.
func freshDB(ctx context.Context, o runOpts, name string) error {
	if !strings.HasPrefix(name, "laatu_bench") {
		return fmt.Errorf("refusing to drop %q: not a bench database", name)
	}
	stmts := []string{"DROP DATABASE IF EXISTS " + name + " WITH (FORCE)", "CREATE DATABASE " + name}
	if o.jit != "" {
		stmts = append(stmts, "ALTER DATABASE "+name+" SET jit = "+map[bool]string{true: "on", false: "off"}[o.jit == "on"])
	}
	return adminExec(ctx, o.adminURL, stmts...)
}

func dropDBs(o runOpts, names ...string) {
	if o.keep {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, n := range names {
		if strings.HasPrefix(n, "laatu_bench") {
			_ = adminExec(ctx, o.adminURL, "DROP DATABASE IF EXISTS "+n+" WITH (FORCE)")
		}
	}
}

func ensureRoles(ctx context.Context, o runOpts) error {
	return adminExec(ctx, o.adminURL,
		"DO $$ BEGIN CREATE ROLE "+appRole+" LOGIN NOSUPERUSER NOBYPASSRLS; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$",
		"DO $$ BEGIN CREATE ROLE "+pglRole+" NOLOGIN NOSUPERUSER NOBYPASSRLS; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$")
}

// loadPG loads the shape into a fresh database and grants the server's role.
func loadPG(ctx context.Context, o runOpts, name string, shape benchdata.Shape) (*benchdata.Loaded, error) {
	if err := freshDB(ctx, o, name); err != nil {
		return nil, err
	}
	db, err := database.Open(ctx, withDB(o.adminURL, name, ""), "")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	if _, err := db.MigrateUp(ctx); err != nil {
		return nil, err
	}
	if err := db.GrantServerRole(ctx, withDB(o.adminURL, name, appRole)); err != nil {
		return nil, err
	}
	got, err := benchdata.Load(ctx, db, shape)
	if err != nil {
		return nil, err
	}
	logf("loaded %s: %v in %s", name, got.Rows, got.Took.Round(100*time.Millisecond))
	return got, writeJSON(filepath.Join(o.dir, name+".json"), got)
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}

// setupPGL makes PostGraphile's database: a copy of Laatu's (same schema, same rows, same
// row-level security policies), whose policy functions read PostGraphile's JWT claims instead
// of Laatu's transaction settings, with a role that may only read.
func setupPGL(ctx context.Context, o runOpts) error {
	if err := adminExec(ctx, o.adminURL, "DROP DATABASE IF EXISTS "+dbPGL+" WITH (FORCE)",
		"CREATE DATABASE "+dbPGL+" TEMPLATE "+dbLaatu); err != nil {
		return err
	}
	return adminExec(ctx, withDB(o.adminURL, dbPGL, ""),
		`CREATE OR REPLACE FUNCTION app_company_id() RETURNS uuid LANGUAGE sql STABLE AS
		 $$ SELECT nullif(current_setting('jwt.claims.company_id', true), '')::uuid $$`,
		`CREATE OR REPLACE FUNCTION app_user_id() RETURNS uuid LANGUAGE sql STABLE AS
		 $$ SELECT nullif(current_setting('jwt.claims.user_id', true), '')::uuid $$`,
		"GRANT USAGE ON SCHEMA public TO "+pglRole,
		"GRANT SELECT ON companies, users, memberships, folders, documents, grants, comments, document_templates, folder_templates TO "+pglRole,
		"GRANT EXECUTE ON FUNCTION app_company_id(), app_user_id() TO "+pglRole,
		"ANALYZE")
}

// jwt signs PostGraphile's token for a member of a company (HS256).
func jwt(secret, companyID, userID string) string {
	enc := base64.RawURLEncoding
	head := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	claims, _ := json.Marshal(map[string]any{"aud": jwtAud, "role": pglRole, "company_id": companyID,
		"user_id": userID, "exp": time.Now().Add(24 * time.Hour).Unix()})
	body := head + "." + enc.EncodeToString(claims)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(body))
	return body + "." + enc.EncodeToString(mac.Sum(nil))
}

// proc is a server the bench started, in a process group of its own so that stopping it
// reaches its workers and nothing else.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  *os.File
	// done is closed when the process has exited and been reaped.
	done    chan struct{}
	stopped bool
}

func start(name, dir string, env []string, bin string, args ...string) (*proc, error) {
	f, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: f, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	return p, nil
}

// exited reports whether the process has ended by itself.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop ends the server's process group: SIGTERM, then SIGKILL after 15 s. It is safe to call
// twice; the group is signalled only while its leader has not been reaped, or (for a leader that
// is gone) only once, so a reused PID is never signalled.
func (p *proc) stop() {
	if p == nil || p.stopped {
		return
	}
	p.stopped = true
	defer p.log.Close()
	pid := p.cmd.Process.Pid
	_ = syscall.Kill(-pid, syscall.SIGTERM) // the group outlives a dead leader while workers remain
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-p.done
	}
}

// rss is the resident memory of the process and its descendants, in MiB.
func (p *proc) rss() float64 {
	var kb int
	p.walk(func(pid int) {
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
			if m := regexp.MustCompile(`VmRSS:\s+(\d+)`).FindSubmatch(b); m != nil {
				n, _ := strconv.Atoi(string(m[1]))
				kb += n
			}
		}
	})
	return float64(kb) / 1024
}

// walk calls fn with the process's PID and each of its descendants'.
func (p *proc) walk(fn func(pid int)) {
	var walk func(pid int)
	walk = func(pid int) {
		fn(pid)
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
		for _, t := range tasks {
			b, _ := os.ReadFile(t)
			for _, f := range strings.Fields(string(b)) {
				if c, err := strconv.Atoi(f); err == nil {
					walk(c)
				}
			}
		}
	}
	walk(p.cmd.Process.Pid)
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// startLaatu runs the built binary in production mode over PostgreSQL (dbURL is the server's
// role, possibly through the proxy) or, with dbURL empty, over the SQLite file in dataDir.
func startLaatu(o runOpts, name, dbURL, adminURL, dataDir string) (*proc, string, error) {
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	// The load is one member of one company, as fast as it is answered: the rate limits and the
	// per-company cap on operations in flight, which protect a server shared by many users and
	// companies (PostGraphile has neither), would refuse most of it. The bench measures the
	// read, so it turns them off and lifts the caps above its highest concurrency. Several
	// instances run at once: the default admin port would collide. Prod refuses plain HTTP
	// unless a proxy terminates TLS; the bench's loopback client plays that proxy (PostGraphile
	// is measured over plain HTTP too).
	args := []string{"serve", "--mode", "prod", "--addr", fmt.Sprintf("127.0.0.1:%d", port),
		"--tls-terminated-by-proxy", "--trusted-proxies", "127.0.0.1/32",
		"--audit-log", filepath.Join(o.dir, name+"-audit.jsonl"), "--log-level", "warn",
		"--admin-addr", "off", "--rate-limit-user", "0", "--rate-limit-company", "0", "--rate-limit-ip", "0",
		"--max-in-flight", "256", "--max-in-flight-per-company", "256"}
	if dbURL != "" {
		args = append(args, "--database-url", dbURL, "--admin-database-url", adminURL)
	} else {
		// The scale mode's SQLite cells: prod refuses the embedded store unless allowed.
		args = append(args, "--data-dir", dataDir, "--allow-embedded-store")
	}
	p, err := start(name, o.dir, nil, o.laatuBin, args...)
	return p, fmt.Sprintf("http://127.0.0.1:%d/graphql", port), err
}

// ready polls the server with t until it answers, within a generous deadline.
func ready(ctx context.Context, p *proc, t target) error {
	cl := newClient(1, 10*time.Second)
	deadline := time.Now().Add(3 * time.Minute)
	var last error
	for time.Now().Before(deadline) {
		if p.exited() {
			return fmt.Errorf("%s exited: see %s", p.name, p.log.Name())
		}
		if _, last = do(ctx, cl, t); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s did not answer within 3 minutes (%v); see %s", p.name, last, p.log.Name())
}

func gql(url, query, auth string) target {
	body, _ := json.Marshal(map[string]string{"query": query})
	return target{URL: url, Body: body, Headers: map[string]string{"Authorization": "Bearer " + auth}}
}

// nestedIDs checks the nested read's answer — ten folders of twenty documents, each with an
// owner name — and returns its document ids in order, to compare the servers' rows.
func nestedIDs(ctx context.Context, t target, pgl bool) ([]string, error) {
	body, err := do(ctx, newClient(1, 60*time.Second), t)
	if err != nil {
		return nil, err
	}
	type doc struct {
		ID, Title string
		Owner     *struct{ Name string } `json:"owner"`
		PGOwner   *struct{ Name string } `json:"userByOwnerId"`
	}
	type folder struct {
		ID, Name string
		Docs     struct{ Nodes []doc } `json:"documents"`
		PGDocs   struct{ Nodes []doc } `json:"documentsByCompanyIdAndFolderId"`
	}
	var r struct {
		Data struct {
			Folders    struct{ Nodes []folder } `json:"folders"`
			AllFolders struct{ Nodes []folder } `json:"allFolders"`
		}
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, err
	}
	fs := r.Data.Folders.Nodes
	if pgl {
		fs = r.Data.AllFolders.Nodes
	}
	var ids []string
	for _, f := range fs {
		docs := f.Docs.Nodes
		if pgl {
			docs = f.PGDocs.Nodes
		}
		if len(docs) != 20 {
			return nil, fmt.Errorf("folder %s has %d documents in the answer, want 20", f.Name, len(docs))
		}
		for _, d := range docs {
			o := d.Owner
			if pgl {
				o = d.PGOwner
			}
			if o == nil || o.Name == "" {
				return nil, fmt.Errorf("document %s has no owner name", d.ID)
			}
			ids = append(ids, f.ID+"/"+d.ID)
		}
	}
	if len(fs) != 10 {
		return nil, fmt.Errorf("answer has %d folders, want 10", len(fs))
	}
	return ids, nil
}

type server struct {
	name    string
	p       *proc
	nested  target
	trivial target
	// db is the database its PostgreSQL backends are connected to.
	db string
}

type measure struct {
	server, query string
	result
	rss float64
	// cpuServer and cpuPG are the CPU milliseconds per answered request of the server's
	// processes and of its database's backends (cpu.go).
	cpuServer, cpuPG float64
}

func runPeers(ctx context.Context, o runOpts) (string, error) {
	if err := ensureRoles(ctx, o); err != nil {
		return "", err
	}
	defer dropDBs(o, dbLaatu, dbPGL)
	shape := benchdata.Default()
	shape.Companies, shape.DocsPerCompany = o.companies, o.docs
	shape.Users = max(shape.Users, 100*o.companies)
	loaded, err := loadPG(ctx, o, dbLaatu, shape)
	if err != nil {
		return "", err
	}
	co := loaded.Companies[0]
	if !o.skipPGL && !o.explainOnly {
		if err := setupPGL(ctx, o); err != nil {
			return "", err
		}
	}
	ownerURL := withDB(o.adminURL, dbLaatu, "")
	appURL := withDB(o.adminURL, dbLaatu, appRole) + "&application_name=laatu"

	// Calibration through the statement-recording proxy: statements per request, and the
	// statements of one nested read for EXPLAIN.
	px, err := startProxy(hostPort(o.adminURL))
	if err != nil {
		return "", err
	}
	defer px.Close()
	u, _ := url.Parse(appURL)
	u.Host = px.Addr()
	lp, lurl, err := startLaatu(o, "laatu-calibration", u.String(), ownerURL, "")
	if err != nil {
		return "", err
	}
	defer lp.stop()
	nested, trivial := gql(lurl, laatuNested, co.Member.Token), gql(lurl, typename, co.Member.Token)
	if err := ready(ctx, lp, trivial); err != nil {
		return "", err
	}
	laatuIDs, err := nestedIDs(ctx, nested, false)
	if err != nil {
		return "", fmt.Errorf("laatu's nested read: %w", err)
	}
	const calib = 20
	perReq := map[string]float64{}
	calibrated := map[string]int{}
	for _, q := range []struct {
		name string
		t    target
	}{{"nested", nested}, {"typename", trivial}} {
		if _, err := do(ctx, newClient(1, 60*time.Second), q.t); err != nil { // warm
			return "", err
		}
		cl := newClient(1, 60*time.Second)
		px.Take()
		n, until := 0, time.Now().Add(10*time.Second)
		for n < 3 || (n < calib && time.Now().Before(until)) {
			if _, err := do(ctx, cl, q.t); err != nil {
				return "", err
			}
			n++
		}
		time.Sleep(200 * time.Millisecond) // the view audit's write may trail the answer
		all := px.Take()
		txs, queries := transactions(all), 0
		for _, s := range all {
			if kind(s.SQL) == "query" {
				queries++
			}
		}
		perReq[q.name] = float64(len(all)) / float64(n)
		perReq[q.name+"-tx"] = float64(txs) / float64(n)
		perReq[q.name+"-q"] = float64(queries) / float64(n)
		calibrated[q.name] = n
	}
	px.Take()
	if _, err := do(ctx, newClient(1, 60*time.Second), nested); err != nil {
		return "", err
	}
	time.Sleep(200 * time.Millisecond)
	captured := px.Take()
	lp.stop()
	var raw strings.Builder
	for _, s := range captured {
		fmt.Fprintf(&raw, "-- connection %d\n%s;\n", s.Conn, s.SQL)
	}
	_ = os.WriteFile(filepath.Join(o.dir, "statements.sql"), []byte(raw.String()), 0o644)
	explained, err := explain(ctx, withDB(o.adminURL, dbLaatu, appRole), captured)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(o.dir, "explain.md"), []byte(explained), 0o644); err != nil {
		return "", err
	}
	logf("statements per request: nested %.1f, typename %.1f; EXPLAIN of %d statements in %s",
		perReq["nested"], perReq["typename"], len(captured), filepath.Join(o.dir, "explain.md"))
	if o.explainOnly {
		return fmt.Sprintf("## EXPLAIN (ANALYZE, BUFFERS) of one nested read (%d statements)\n\n%s", len(captured), explained), nil
	}

	// The servers, measured directly.
	lp, lurl, err = startLaatu(o, "laatu", appURL, ownerURL, "")
	if err != nil {
		return "", err
	}
	defer lp.stop()
	servers := []*server{{name: "Laatu", p: lp, nested: gql(lurl, laatuNested, co.Member.Token), trivial: gql(lurl, typename, co.Member.Token), db: dbLaatu}}
	if !o.skipPGL {
		if o.pglBin == "" {
			return "", errors.New("run: --postgraphile is required (run.sh installs it), or --no-postgraphile")
		}
		port, err := freePort()
		if err != nil {
			return "", err
		}
		secret := fmt.Sprintf("bench-%d-%d", time.Now().UnixNano(), os.Getpid())
		pp, err := start("postgraphile", o.dir, []string{"NODE_ENV=production"}, o.pglBin,
			"--connection", withDB(o.adminURL, dbPGL, ""), "--schema", "public",
			"--host", "127.0.0.1", "--port", strconv.Itoa(port), "--cluster-workers", strconv.Itoa(o.pglWorkers),
			"--jwt-secret", secret, "--default-role", pglRole, "--disable-query-log", "--disable-graphiql")
		if err != nil {
			return "", err
		}
		defer pp.stop()
		purl := fmt.Sprintf("http://127.0.0.1:%d/graphql", port)
		tok := jwt(secret, co.ID, co.Member.UserID)
		servers = append(servers, &server{name: "PostGraphile", p: pp, nested: gql(purl, pglNested, tok), trivial: gql(purl, typename, tok), db: dbPGL})
	}
	for _, s := range servers {
		if err := ready(ctx, s.p, s.trivial); err != nil {
			return "", err
		}
		ids, err := nestedIDs(ctx, s.nested, s.name != "Laatu")
		if err != nil {
			return "", fmt.Errorf("%s's nested read: %w", s.name, err)
		}
		if !slices.Equal(ids, laatuIDs) {
			return "", fmt.Errorf("%s's nested read returns other rows than Laatu's", s.name)
		}
	}
	logf("both servers answer the nested read with the same 10 × 20 rows")

	for _, s := range servers {
		for _, t := range []target{s.nested, s.trivial} {
			if _, err := hit(ctx, t, 8, o.warm, 30*time.Second); err != nil {
				return "", err
			}
		}
	}
	var ms []measure
	for round := 1; round <= o.rounds; round++ {
		for _, c := range o.conc {
			for _, q := range []string{"nested", "typename"} {
				for _, s := range servers {
					t := s.nested
					if q == "typename" {
						t = s.trivial
					}
					bk, err := backends(ctx, o.adminURL, s.db)
					if err != nil {
						return "", err
					}
					cpuS, cpuB := cpuTimes(s.p.pids()), cpuTimes(bk)
					r, err := hit(ctx, t, c, o.dur, 30*time.Second)
					if err != nil {
						return "", err
					}
					if bk, err = backends(ctx, o.adminURL, s.db); err != nil {
						return "", err
					}
					m := measure{server: s.name, query: q, result: r, rss: s.p.rss()}
					if ok := r.Requests - r.Errors; ok > 0 {
						m.cpuServer = cpuSince(cpuS, cpuTimes(s.p.pids())) / float64(ok)
						m.cpuPG = cpuSince(cpuB, cpuTimes(bk)) / float64(ok)
					}
					logf("round %d %-12s %-8s %s, RSS %.0f MiB, CPU per request: server %.2f ms, PostgreSQL %.2f ms",
						round, s.name, q, r, m.rss, m.cpuServer, m.cpuPG)
					if r.FirstError != "" {
						logf("  first error: %s", r.FirstError)
					}
					ms = append(ms, m)
				}
			}
		}
	}
	for _, s := range servers {
		s.p.stop()
	}
	floor := runFloor(ctx, o, co)
	return peersReport(o, loaded, ms, perReq, calibrated, floor), nil
}

type floorResult struct {
	c       int
	tps     float64
	latency string
	err     string
	skipped string
}

// runFloor runs the hand-written LATERAL query with pgbench at the concurrency levels the
// cluster has connections for.
func runFloor(ctx context.Context, o runOpts, co benchdata.Company) []floorResult {
	script := filepath.Join(o.dir, "floor.sql")
	_ = os.WriteFile(script, []byte(floorSQL), 0o644)
	var out []floorResult
	appURL := withDB(o.adminURL, dbLaatu, appRole)
	for _, c := range o.conc {
		r := floorResult{c: c}
		if used, err := connsInUse(ctx, o.adminURL); err == nil && used+c > maxConns {
			r.skipped = fmt.Sprintf("skipped: %d connections in use on the shared cluster", used)
			out = append(out, r)
			continue
		}
		cmd := exec.CommandContext(ctx, o.pgbench, "-n", "-M", "prepared", "-c", strconv.Itoa(c), "-j", strconv.Itoa(min(c, runtime.NumCPU())),
			"-T", strconv.Itoa(int(o.dur.Seconds())), "-f", script, "-D", "cid="+co.ID, "-D", "uid="+co.Member.UserID, appURL)
		b, err := cmd.CombinedOutput()
		_ = os.WriteFile(filepath.Join(o.dir, fmt.Sprintf("pgbench-c%d.log", c)), b, 0o644)
		if m := regexp.MustCompile(`tps = ([\d.]+) \(without initial`).FindSubmatch(b); m != nil {
			r.tps, _ = strconv.ParseFloat(string(m[1]), 64)
		}
		if m := regexp.MustCompile(`latency average = ([\d.]+ ms)`).FindSubmatch(b); m != nil {
			r.latency = string(m[1])
		}
		if err != nil {
			r.err = fmt.Sprintf("%v: %.200s", err, b)
		}
		logf("SQL floor c%d: %.0f tps, latency average %s %s", c, r.tps, r.latency, r.err)
		out = append(out, r)
	}
	return out
}

func connsInUse(ctx context.Context, adminURL string) (int, error) {
	a, err := database.Open(ctx, adminURL, "")
	if err != nil {
		return 0, err
	}
	defer a.Close()
	var n int
	err = a.NewRaw("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'").Scan(ctx, &n)
	return n, err
}

// summary of the rounds of one (server, query, c).
type summary struct {
	rps              []float64
	p50, p99         []time.Duration
	errors, requests int
	rss              float64
	cpuServer, cpuPG []float64
}

func summarize(ms []measure) map[string]*summary {
	out := map[string]*summary{}
	for _, m := range ms {
		k := fmt.Sprintf("%s|%s|%d", m.server, m.query, m.Concurrency)
		s := out[k]
		if s == nil {
			s = &summary{}
			out[k] = s
		}
		s.rps = append(s.rps, m.RPS)
		s.p50 = append(s.p50, m.P50)
		s.p99 = append(s.p99, m.P99)
		s.errors += m.Errors
		s.requests += m.Requests
		s.rss = max(s.rss, m.rss)
		s.cpuServer = append(s.cpuServer, m.cpuServer)
		s.cpuPG = append(s.cpuPG, m.cpuPG)
	}
	return out
}

func median[T float64 | time.Duration](xs []T) T {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func rpsRange(xs []float64) string {
	if len(xs) == 0 {
		return "—"
	}
	lo, hi := slices.Min(xs), slices.Max(xs)
	f := func(v float64) string {
		if v < 10 {
			return fmt.Sprintf("%.1f", v)
		}
		return fmt.Sprintf("%.0f", v)
	}
	if len(xs) == 1 {
		return f(lo)
	}
	return fmt.Sprintf("%s (%s–%s)", f(median(xs)), f(lo), f(hi))
}

func machine() string {
	var model string
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		if m := regexp.MustCompile(`model name\s*:\s*(.*)`).FindSubmatch(b); m != nil {
			model = strings.TrimSpace(string(m[1]))
		}
	}
	load := ""
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		load = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	return fmt.Sprintf("%d cores (%s), load average at the end %s", runtime.NumCPU(), model, load)
}

func peersReport(o runOpts, l *benchdata.Loaded, ms []measure, perReq map[string]float64, calibrated map[string]int, floor []floorResult) string {
	var b strings.Builder
	sum := summarize(ms)
	fmt.Fprintf(&b, "## Peers: %s UTC\n\n", time.Now().UTC().Format("2006-01-02 15:04"))
	fmt.Fprintf(&b, "Machine: %s. Shape: %d companies, %d users, %d folders and %d documents per company, %d grants in all. "+
		"%d rounds of %s per cell after a %s warm-up, closed loop, loopback. jit: %s.\n\n",
		machine(), l.Shape.Companies, l.Shape.Users, l.Shape.FoldersPerCompany, l.Shape.DocsPerCompany,
		l.Rows["grants"], o.rounds, o.dur, o.warm, map[bool]string{true: "cluster default", false: o.jit}[o.jit == ""])
	b.WriteString("req/s is the median of the rounds (range); p50 and p99 are medians of the rounds' percentiles.\n\n")
	b.WriteString("| query | c | Laatu req/s | p50 | p99 | errors | PostGraphile req/s | p50 | p99 | errors | Laatu / PostGraphile |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, q := range []string{"nested", "typename"} {
		for _, c := range o.conc {
			la, pg := sum[fmt.Sprintf("Laatu|%s|%d", q, c)], sum[fmt.Sprintf("PostGraphile|%s|%d", q, c)]
			cell := func(s *summary) string {
				if s == nil {
					return "— | — | — | —"
				}
				return fmt.Sprintf("%s | %s | %s | %d/%d", rpsRange(s.rps), ms_(median(s.p50)), ms_(median(s.p99)), s.errors, s.requests)
			}
			ratio := "—"
			if la != nil && pg != nil && median(pg.rps) > 0 {
				ratio = fmt.Sprintf("%.2f×", median(la.rps)/median(pg.rps))
			}
			name := map[string]string{"nested": "10 folders → 20 documents → owner", "typename": "`{ __typename }` + token"}[q]
			fmt.Fprintf(&b, "| %s | %d | %s | %s | %s |\n", name, c, cell(la), cell(pg), ratio)
		}
	}
	b.WriteString("\nCPU time per answered request, in ms (median of the rounds): the server's processes + the PostgreSQL " +
		"backends of its database. Unlike req/s it barely moves with other load on the machine.\n\n")
	b.WriteString("| query | c | Laatu server | Laatu PostgreSQL | Laatu total | PostGraphile server | PostGraphile PostgreSQL | PostGraphile total |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|\n")
	for _, q := range []string{"nested", "typename"} {
		for _, c := range o.conc {
			cell := func(s *summary) string {
				if s == nil {
					return "— | — | —"
				}
				sv, pg := median(s.cpuServer), median(s.cpuPG)
				return fmt.Sprintf("%.2f | %.2f | %.2f", sv, pg, sv+pg)
			}
			fmt.Fprintf(&b, "| %s | %d | %s | %s |\n", q, c, cell(sum[fmt.Sprintf("Laatu|%s|%d", q, c)]),
				cell(sum[fmt.Sprintf("PostGraphile|%s|%d", q, c)]))
		}
	}
	var rssL, rssP float64
	for k, s := range sum {
		if strings.HasPrefix(k, "Laatu|") {
			rssL = max(rssL, s.rss)
		} else {
			rssP = max(rssP, s.rss)
		}
	}
	fmt.Fprintf(&b, "\nPeak RSS: Laatu %.0f MiB, PostGraphile %.0f MiB (all %d processes' sum).\n", rssL, rssP, o.pglWorkers+1)
	fmt.Fprintf(&b, "Laatu per request, recorded on the wire at c1 (nested read over %d requests, `{ __typename }` over %d): "+
		"nested read %.1f statements in %.1f transactions, of which %.1f queries (not BEGIN, COMMIT or set_config); "+
		"`{ __typename }` %.1f statements in %.1f transactions, %.1f queries.\n",
		calibrated["nested"], calibrated["typename"], perReq["nested"], perReq["nested-tx"], perReq["nested-q"],
		perReq["typename"], perReq["typename-tx"], perReq["typename-q"])
	b.WriteString("\nSQL floor (pgbench -M prepared, the LATERAL query in a transaction with Laatu's RLS settings, as the server's role):\n\n")
	b.WriteString("| c | transactions/s | latency average |\n|---|---|---|\n")
	for _, f := range floor {
		switch {
		case f.skipped != "":
			fmt.Fprintf(&b, "| %d | %s | |\n", f.c, f.skipped)
		case f.err != "":
			fmt.Fprintf(&b, "| %d | error: %s | |\n", f.c, strings.ReplaceAll(f.err, "\n", " "))
		default:
			la := sum[fmt.Sprintf("Laatu|nested|%d", f.c)]
			share := ""
			if la != nil && f.tps > 0 {
				share = fmt.Sprintf(" (Laatu at %.1f %%)", 100*median(la.rps)/f.tps)
			}
			fmt.Fprintf(&b, "| %d | %.0f%s | %s |\n", f.c, f.tps, share, f.latency)
		}
	}
	return b.String()
}

func ms_(d time.Duration) string { return ms(d) }

// runScale measures Laatu alone at c1 over companies of growing size, on PostgreSQL and SQLite:
// the nested read's cost should follow the page, not the company.
func runScale(ctx context.Context, o runOpts) (string, error) {
	if err := ensureRoles(ctx, o); err != nil {
		return "", err
	}
	defer dropDBs(o, dbScale)
	type row struct {
		store string
		docs  int
		r     result
		load  time.Duration
	}
	var rows []row
	stores := []string{"PostgreSQL", "SQLite"}
	if o.skipSQLite {
		stores = stores[:1]
	}
	for _, docs := range o.scaleDocs {
		shape := benchdata.Default()
		shape.Companies, shape.Users, shape.DocsPerCompany, shape.GrantsPerCompany = 3, 300, docs, docs
		for _, store := range stores {
			var (
				loaded *benchdata.Loaded
				lp     *proc
				lurl   string
				err    error
			)
			if store == "PostgreSQL" {
				if loaded, err = loadPG(ctx, o, dbScale, shape); err != nil {
					return "", err
				}
				lp, lurl, err = startLaatu(o, fmt.Sprintf("laatu-pg-%d", docs), withDB(o.adminURL, dbScale, appRole), withDB(o.adminURL, dbScale, ""), "")
			} else {
				dataDir := filepath.Join(o.dir, fmt.Sprintf("sqlite-%d", docs))
				if loaded, err = loadSQLite(ctx, filepath.Join(dataDir, "laatu.db"), shape); err != nil {
					return "", err
				}
				lp, lurl, err = startLaatu(o, fmt.Sprintf("laatu-sqlite-%d", docs), "", "", dataDir)
			}
			if err != nil {
				return "", err
			}
			co := loaded.Companies[0]
			nested := gql(lurl, laatuNested, co.Member.Token)
			err = func() error {
				defer lp.stop()
				if err := ready(ctx, lp, gql(lurl, typename, co.Member.Token)); err != nil {
					return err
				}
				if _, err := nestedIDs(ctx, nested, false); err != nil {
					return err
				}
				if _, err := hit(ctx, nested, 1, o.warm, 60*time.Second); err != nil {
					return err
				}
				r, err := hit(ctx, nested, 1, time.Duration(o.rounds)*o.dur, 60*time.Second)
				if err != nil {
					return err
				}
				logf("%s, %d documents per company: %s", store, docs, r)
				rows = append(rows, row{store, docs, r, loaded.Took})
				return nil
			}()
			if err != nil {
				return "", err
			}
			if store == "SQLite" && !o.keep {
				_ = os.RemoveAll(filepath.Join(o.dir, fmt.Sprintf("sqlite-%d", docs)))
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "## Scale: %s UTC\n\nMachine: %s. Laatu alone, the nested read as a member at c1 for %s, "+
		"3 companies of 200 folders, documents and grants per company as below. jit: %s.\n\n",
		time.Now().UTC().Format("2006-01-02 15:04"), machine(), time.Duration(o.rounds)*o.dur,
		map[bool]string{true: "cluster default", false: o.jit}[o.jit == ""])
	b.WriteString("| store | documents per company | req/s | p50 | p99 | errors | load time |\n|---|---|---|---|---|---|---|\n")
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].store < rows[j].store })
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %d | %.1f | %s | %s | %d/%d | %s |\n", r.store, r.docs, r.r.RPS, ms(r.r.P50), ms(r.r.P99),
			r.r.Errors, r.r.Requests, r.load.Round(100*time.Millisecond))
	}
	return b.String(), nil
}

func loadSQLite(ctx context.Context, path string, shape benchdata.Shape) (*benchdata.Loaded, error) {
	_ = os.RemoveAll(filepath.Dir(path))
	db, err := database.Open(ctx, "", path)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	if _, err := db.MigrateUp(ctx); err != nil {
		return nil, err
	}
	got, err := benchdata.Load(ctx, db, shape)
	if err == nil {
		logf("loaded %s: %v in %s", path, got.Rows, got.Took.Round(100*time.Millisecond))
	}
	return got, err
}
