// Command subscriptions measures GraphQL subscriptions under load, on loopback only. It starts
// a Laatu server in a child process (or uses one already running at -url), opens N WebSocket
// subscribers to one document, changes that document a few times, and reports:
//
//   - connect time: all N connected, initialised and subscribed, and each one's handshake;
//   - delivery latency from the change to the client, p50/p99/max over every delivery, and how
//     long each change took to reach all N (the change's updatedAt, taken by the server as
//     it writes, against the client's clock: the same machine);
//   - the server's resident memory (now and peak) and CPU time, from /proc.
//
// Every subscriber has its own WebSocket. They share -sessions sessions of the demo member,
// which the server checks again at every event (one check per session per event).
//
//	go run ./bench/subscriptions -n 1000
//	go run ./bench/subscriptions -n 10000 -deadline 120s
//	go run ./bench/subscriptions -n 1000 -database-url 'postgres://postgres@127.0.0.1:5432/test?sslmode=disable'
//
// Where the server's memory goes: -profile DIR prints its Go memory statistics per subscriber
// (heap in use, stacks, goroutines; as is, after a GC, after four more) once the subscribers are
// connected and again after the changes, and writes heap and goroutine profiles there (the
// server then samples every 4 KiB allocated, which costs it some CPU). -server-gogc and
// -server-gomemlimit set the server's GC without touching the script's own.
//
//	go run ./bench/subscriptions -n 2000 -profile /tmp/subs-prof
//	go run ./bench/subscriptions -n 10000 -deadline 150s -server-gogc 50
//
// Each side needs one file descriptor per subscriber: both processes raise their soft limit
// to the hard one; if that is below N+100, raise it first (ulimit -Hn, or the systemd/docker
// limit). The run stops at -deadline whatever happens.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coder/websocket"
)

type flags struct {
	n, events, sessions, concurrency int
	deadline                         time.Duration
	url, databaseURL                 string
	pid                              int
	viewAudit                        bool
	serve                            bool
	// profile is a directory for heap and goroutine profiles of the server, taken once the
	// subscribers are connected ("" for none).
	profile string
	// gomemlimit and gogc set the started server's GOMEMLIMIT and GOGC ("" leaves them).
	gomemlimit, gogc string
}

func main() {
	var f flags
	flag.IntVar(&f.n, "n", 1000, "subscribers (one WebSocket each)")
	flag.IntVar(&f.events, "events", 5, "changes to publish after the warm-up one")
	flag.IntVar(&f.sessions, "sessions", 100, "distinct sessions the subscribers share")
	flag.IntVar(&f.concurrency, "concurrency", 200, "connections opened at once")
	flag.DurationVar(&f.deadline, "deadline", 60*time.Second, "hard deadline of the whole run")
	flag.StringVar(&f.url, "url", "", "a running server on loopback (http://127.0.0.1:8080); default: start one")
	flag.IntVar(&f.pid, "pid", 0, "with -url: the server's process id, to report its memory and CPU")
	flag.StringVar(&f.databaseURL, "database-url", "", "PostgreSQL URL with CREATE DATABASE rights for the started server (default: SQLite)")
	flag.BoolVar(&f.viewAudit, "view-audit", true, "record views in the audit log, as production does")
	flag.StringVar(&f.profile, "profile", "", "directory to write the started server's heap and goroutine profiles to, taken with the subscribers connected; also prints its Go memory statistics")
	flag.StringVar(&f.gomemlimit, "server-gomemlimit", "", "GOMEMLIMIT of the started server only (e.g. 450MiB)")
	flag.StringVar(&f.gogc, "server-gogc", "", "GOGC of the started server only (e.g. 50)")
	flag.BoolVar(&f.serve, "serve", false, "internal: run the server side")
	flag.Parse()

	raiseFileLimit()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	if f.serve {
		if f.profile != "" {
			// Every 4 KiB allocated sampled, rather than every 512 KiB: the per-subscriber
			// objects are small and many, and the profile should tell them apart.
			runtime.MemProfileRate = 4 << 10
		}
		err = serve(ctx, f)
	} else {
		ctx, cancel := context.WithTimeout(ctx, f.deadline)
		defer cancel()
		err = run(ctx, f)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "subscriptions:", err)
		os.Exit(1)
	}
}

// raiseFileLimit lifts the soft limit on open files to the hard one.
func raiseFileLimit() {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) == nil && l.Cur < l.Max {
		l.Cur = l.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
}

// target is the server under test, as the child announces it.
type target struct {
	URL    string   `json:"url"`
	PID    int      `json:"pid"`
	Tokens []string `json:"tokens"`
	Admin  string   `json:"admin"`
	// Debug is the started server's profiling endpoint (with -profile).
	Debug string `json:"debug,omitempty"`
}

func run(ctx context.Context, f flags) error {
	if err := loopback(f.url); err != nil {
		return err
	}
	var tg target
	if f.url == "" {
		child, t, err := startServer(ctx, f)
		if err != nil {
			return err
		}
		defer child.stop()
		tg = t
	} else {
		t, err := logIn(ctx, f.url, f.sessions)
		if err != nil {
			return err
		}
		tg, tg.PID = t, f.pid
	}
	fmt.Printf("server %s (pid %d), %d subscribers over %d sessions, %d changes, deadline %s\n",
		tg.URL, tg.PID, f.n, len(tg.Tokens), f.events, f.deadline)

	doc, err := makeDocument(ctx, tg)
	if err != nil {
		return err
	}
	cpu0, wall0 := cpuSeconds(tg.PID), time.Now()
	rss0, _ := memory(tg.PID)

	subs, handshakes, err := connect(ctx, f, tg, doc)
	defer func() {
		for _, s := range subs {
			_ = s.c.CloseNow()
		}
	}()
	connectTook := time.Since(wall0)
	cpu1 := cpuSeconds(tg.PID)
	rss1, _ := memory(tg.PID)
	fmt.Printf("\nconnect: %d subscribers in %s (%.0f/s); handshake to ack p50 %s p99 %s max %s\n",
		len(subs), connectTook.Round(time.Millisecond), float64(len(subs))/connectTook.Seconds(),
		pct(handshakes, 50), pct(handshakes, 99), pct(handshakes, 100))
	fmt.Printf("server: RSS %s (+%s for the subscribers), CPU %.2fs (%.0f%% of one core)\n",
		mib(rss1), mib(rss1-rss0), cpu1-cpu0, 100*(cpu1-cpu0)/connectTook.Seconds())
	if err != nil {
		return err
	}
	if err := profile(ctx, f, tg, len(subs), "connected"); err != nil {
		return err
	}

	// The warm-up change proves every stream is live; the others are measured alike.
	var all []time.Duration
	cpu2, wall2 := cpuSeconds(tg.PID), time.Now()
	for i := 0; i <= f.events; i++ {
		lat, fanout, missing, err := change(ctx, tg, doc, subs, i)
		label := fmt.Sprintf("change %d", i)
		if i == 0 {
			label = "warm-up"
		} else {
			all = append(all, lat...)
		}
		fmt.Printf("%-9s reached %d/%d in %s (p50 %s, p99 %s)\n", label, len(lat), len(subs), fanout.Round(time.Millisecond),
			pct(lat, 50), pct(lat, 99))
		if err != nil || missing > 0 {
			return fmt.Errorf("%s: %d subscribers missed it: %v", label, missing, err)
		}
	}
	took := time.Since(wall2)
	cpu3 := cpuSeconds(tg.PID)
	rss3, peak := memory(tg.PID)
	fmt.Printf("\ndelivery, change to client, %d deliveries: p50 %s p99 %s max %s\n", len(all), pct(all, 50), pct(all, 99), pct(all, 100))
	fmt.Printf("server: RSS %s, peak %s; CPU %.2fs for %d changes (%.0f%% of one core over %s)\n",
		mib(rss3), mib(peak), cpu3-cpu2, f.events+1, 100*(cpu3-cpu2)/took.Seconds(), took.Round(time.Millisecond))
	return profile(ctx, f, tg, len(subs), "changed")
}

// loopback refuses any target but this machine: the script must not load anyone else's server.
func loopback(u string) error {
	if u == "" {
		return nil
	}
	host := strings.TrimPrefix(strings.TrimPrefix(u, "http://"), "https://")
	host, _, _ = strings.Cut(host, "/")
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if ip := net.ParseIP(host); (ip == nil || !ip.IsLoopback()) && host != "localhost" {
		return fmt.Errorf("-url must be on loopback, got %q", u)
	}
	return nil
}

// child is the server process.
type child struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func startServer(ctx context.Context, f flags) (*child, target, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, target{}, err
	}
	args := []string{"-serve", "-sessions", strconv.Itoa(f.sessions), "-n", strconv.Itoa(f.n),
		"-view-audit=" + strconv.FormatBool(f.viewAudit), "-database-url", f.databaseURL, "-profile", f.profile}
	cmd := exec.Command(exe, args...)
	cmd.Env = os.Environ()
	if f.gomemlimit != "" {
		cmd.Env = append(cmd.Env, "GOMEMLIMIT="+f.gomemlimit)
	}
	if f.gogc != "" {
		cmd.Env = append(cmd.Env, "GOGC="+f.gogc)
	}
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, target{}, err
	}
	if err := cmd.Start(); err != nil {
		return nil, target{}, err
	}
	c := &child{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(c.done) }()
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		if sc.Scan() {
			lines <- sc.Text()
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	var tg target
	select {
	case line := <-lines:
		if err := json.Unmarshal([]byte(line), &tg); err != nil {
			c.stop()
			return nil, target{}, fmt.Errorf("server said %q: %w", line, err)
		}
	case <-c.done:
		return nil, target{}, errors.New("the server exited before it was ready")
	case <-ctx.Done():
		c.stop()
		return nil, target{}, ctx.Err()
	}
	return c, tg, nil
}

// stop asks the server to shut down gracefully, and kills it if it takes too long.
func (c *child) stop() {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(20 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

// logIn opens sessions on a server that runs the demo data.
func logIn(ctx context.Context, url string, n int) (target, error) {
	tg := target{URL: url}
	login := func(email string) (string, error) {
		var out struct{ Login struct{ Token string } }
		err := gql(ctx, url, "", `mutation($e: String!) { login(email: $e, password: "laatu-demo-password") { token } }`,
			map[string]any{"e": email}, &out)
		return out.Login.Token, err
	}
	var err error
	if tg.Admin, err = login("admin@acme.test"); err != nil {
		return tg, err
	}
	for range n {
		tok, err := login("member@acme.test")
		if err != nil {
			return tg, err
		}
		tg.Tokens = append(tg.Tokens, tok)
	}
	return tg, nil
}

// makeDocument creates the document that the subscribers follow, in Acme's first folder that
// is not restricted (members see those).
func makeDocument(ctx context.Context, tg target) (string, error) {
	var ids struct {
		Folders struct {
			Nodes []struct {
				ID         string
				Restricted bool
			}
		}
		Templates struct{ Nodes []struct{ ID string } }
	}
	if err := gql(ctx, tg.URL, tg.Admin, `{ folders(first: 20) { nodes { id restricted } } templates(first: 1) { nodes { id } } }`, nil, &ids); err != nil {
		return "", err
	}
	folder := ""
	for _, f := range ids.Folders.Nodes {
		if !f.Restricted {
			folder = f.ID
			break
		}
	}
	if folder == "" || len(ids.Templates.Nodes) == 0 {
		return "", errors.New("no open folder or template to make the document in")
	}
	var doc struct{ CreateDocument struct{ ID string } }
	err := gql(ctx, tg.URL, tg.Admin, `mutation($f: ID!, $t: ID!) { createDocument(input: {folderId: $f, templateId: $t, title: "bench"}) { id } }`,
		map[string]any{"f": folder, "t": ids.Templates.Nodes[0].ID}, &doc)
	return doc.CreateDocument.ID, err
}

const subscription = `subscription($id: ID!) { documentChanged(documentId: $id) { kind document { title updatedAt } } }`

// sub is one subscriber.
type sub struct {
	c *websocket.Conn
	// got receives the title and change time of each event.
	got chan delivery
}

type delivery struct {
	title    string
	changed  time.Time
	received time.Time
}

// connect opens the subscribers, f.concurrency at a time, each with its own WebSocket.
func connect(ctx context.Context, f flags, tg target, doc string) ([]*sub, []time.Duration, error) {
	var (
		mu         sync.Mutex
		subs       []*sub
		handshakes []time.Duration
		failed     atomic.Int64
		firstErr   error
		wg         sync.WaitGroup
	)
	sem := make(chan struct{}, f.concurrency)
	wsURL := "ws" + strings.TrimPrefix(tg.URL, "http") + "/graphql"
	for i := 0; i < f.n && ctx.Err() == nil; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func(token string) {
			defer func() { <-sem; wg.Done() }()
			start := time.Now()
			s, err := dial(ctx, wsURL, token, doc)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if failed.Add(1) == 1 {
					firstErr = err
				}
				return
			}
			subs = append(subs, s)
			handshakes = append(handshakes, time.Since(start))
		}(tg.Tokens[i%len(tg.Tokens)])
	}
	wg.Wait()
	if n := failed.Load(); n > 0 || ctx.Err() != nil {
		return subs, handshakes, fmt.Errorf("%d connections failed (first: %v); %v", n, firstErr, ctx.Err())
	}
	return subs, handshakes, nil
}

// dial opens one subscriber: graphql-transport-ws, init with the token, subscribe.
func dial(ctx context.Context, url, token, doc string) (*sub, error) {
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(dctx, url, &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		return nil, err
	}
	write := func(v any) error {
		b, _ := json.Marshal(v)
		return c.Write(dctx, websocket.MessageText, b)
	}
	if err := write(map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + token}}); err != nil {
		_ = c.CloseNow()
		return nil, err
	}
	_, ack, err := c.Read(dctx)
	if err != nil || !bytes.Contains(ack, []byte(`"connection_ack"`)) {
		_ = c.CloseNow()
		return nil, fmt.Errorf("init: %s %v", ack, err)
	}
	if err := write(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": subscription, "variables": map[string]any{"id": doc}}}); err != nil {
		_ = c.CloseNow()
		return nil, err
	}
	s := &sub{c: c, got: make(chan delivery, 16)}
	go s.read()
	return s, nil
}

// read hands over the events, answering the server's pings as graphql-ws does.
func (s *sub) read() {
	defer close(s.got)
	for {
		_, b, err := s.c.Read(context.Background())
		if err != nil {
			return
		}
		received := time.Now()
		var m struct {
			Type    string
			Payload struct {
				Data struct {
					DocumentChanged *struct {
						Document *struct {
							Title     string
							UpdatedAt time.Time
						}
					}
				}
			}
		}
		if json.Unmarshal(b, &m) != nil {
			continue
		}
		switch {
		case m.Type == "ping":
			_ = s.c.Write(context.Background(), websocket.MessageText, []byte(`{"type":"pong"}`))
		case m.Type == "next" && m.Payload.Data.DocumentChanged != nil && m.Payload.Data.DocumentChanged.Document != nil:
			d := m.Payload.Data.DocumentChanged.Document
			select {
			case s.got <- delivery{title: d.Title, changed: d.UpdatedAt, received: received}:
			default: // the bench is not keeping up with itself: drop, it shows as missing
			}
		}
	}
}

// change retitles the document and waits for every subscriber to receive the new title.
func change(ctx context.Context, tg target, doc string, subs []*sub, i int) (lat []time.Duration, fanout time.Duration, missing int, err error) {
	var cur struct{ Document struct{ Version int } }
	if err := gql(ctx, tg.URL, tg.Admin, `query($id: ID!) { document(id: $id) { version } }`, map[string]any{"id": doc}, &cur); err != nil {
		return nil, 0, len(subs), err
	}
	title := fmt.Sprintf("bench change %d", i)
	start := time.Now()
	if err := gql(ctx, tg.URL, tg.Admin, `mutation($id: ID!, $v: Int!, $t: String!) { updateDocument(id: $id, input: {expectedVersion: $v, title: $t}) { id } }`,
		map[string]any{"id": doc, "v": cur.Document.Version, "t": title}, nil); err != nil {
		return nil, 0, len(subs), err
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var mu sync.Mutex
	var wg sync.WaitGroup
	var last time.Time
	for _, s := range subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case d, ok := <-s.got:
					if !ok {
						return
					}
					if d.title != title {
						continue
					}
					mu.Lock()
					lat = append(lat, d.received.Sub(d.changed))
					if d.received.After(last) {
						last = d.received
					}
					mu.Unlock()
					return
				case <-wctx.Done():
					return
				}
			}
		}()
	}
	wg.Wait()
	if last.IsZero() {
		last = time.Now()
	}
	return lat, last.Sub(start), len(subs) - len(lat), ctx.Err()
}

// gql sends one query or mutation and decodes its data.
func gql(ctx context.Context, url, token, query string, vars map[string]any, into any) error {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/graphql", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	var out struct {
		Data   json.RawMessage
		Errors []struct{ Message string }
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		return fmt.Errorf("%s: status %d: %w", res.Request.URL, res.StatusCode, err)
	}
	if len(out.Errors) > 0 {
		return fmt.Errorf("graphql: %s", out.Errors[0].Message)
	}
	if into == nil {
		return nil
	}
	return json.Unmarshal(out.Data, into)
}

// cpuSeconds is the user and system time a process has used.
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil || pid == 0 {
		return 0
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	if len(fields) < 13 {
		return 0
	}
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	return (utime + stime) / 100 // USER_HZ
}

// memory returns a process's resident set size and its peak, in bytes.
func memory(pid int) (rss, peak int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil || pid == 0 {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			rss = kb << 10
		case "VmHWM":
			peak = kb << 10
		}
	}
	return rss, peak
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// pct returns the p-th percentile (100: the maximum).
func pct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	i = min(max(i-1, 0), len(s)-1)
	return s[i].Round(100 * time.Microsecond)
}
