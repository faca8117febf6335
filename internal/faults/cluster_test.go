//go:build faults

package faults

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/laatu/laatu/internal/database"
)

// pgBin holds the PostgreSQL 15 server binaries the harness runs.
const pgBin = "/usr/lib/postgresql/15/bin"

// cluster is a private PostgreSQL cluster the test started: its own data directory, a free
// loopback port and its socket in the temporary directory. The harness never connects to
// any other cluster and signals only the postmaster it started and that postmaster's children.
type cluster struct {
	dir, data string
	port      int
	asUser    bool // run the binaries as the postgres OS user (the test runs as root)
}

// startCluster initdbs and starts a cluster, and stops it (immediate) when t ends.
// It skips the test when the PostgreSQL binaries are not installed.
func startCluster(t *testing.T, extra ...string) *cluster {
	t.Helper()
	for _, b := range []string{"initdb", "pg_ctl", "postgres"} {
		if _, err := os.Stat(filepath.Join(pgBin, b)); err != nil {
			if os.Getenv("LAATU_CI") != "" {
				t.Fatalf("PostgreSQL 15 binaries not found in %s (%v): CI cannot run the fault tests", pgBin, err)
			}
			t.Skipf("PostgreSQL 15 binaries not found in %s (%v): fault tests skipped", pgBin, err)
		}
	}
	// t.TempDir's parents are private to root; the postgres user needs its own directory.
	dir, err := os.MkdirTemp("", "laatu-faults-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	c := &cluster{dir: dir, data: filepath.Join(dir, "data"), port: freePort(t), asUser: os.Geteuid() == 0}
	if c.asUser {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Skipf("running as root but there is no postgres OS user to run PostgreSQL as: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	c.run(t, filepath.Join(pgBin, "initdb"), "-D", c.data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
	conf := []string{
		"listen_addresses = '127.0.0.1'",
		fmt.Sprintf("port = %d", c.port),
		fmt.Sprintf("unix_socket_directories = '%s'", dir),
		"max_connections = 60",
		"shared_buffers = 32MB",
		"log_min_messages = warning",
	}
	conf = append(conf, extra...)
	f, err := os.OpenFile(filepath.Join(c.data, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteString("\n# laatu fault harness\n" + strings.Join(conf, "\n") + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	c.start(t)
	t.Cleanup(func() {
		// Immediate: the cluster is thrown away, and a killed one may already be down.
		cmd := c.command(filepath.Join(pgBin, "pg_ctl"), "-D", c.data, "-m", "immediate", "-w", "-t", "60", "stop")
		_ = cmd.Run()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	admin, err := database.Open(ctx, c.url("postgres", "postgres"), "")
	if err != nil {
		t.Fatalf("connect to the test cluster: %v", err)
	}
	defer admin.Close()
	for _, q := range []string{
		"CREATE ROLE " + appRole + " LOGIN NOSUPERUSER NOBYPASSRLS",
		"CREATE DATABASE laatu",
	} {
		if _, err := admin.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return c
}

// appRole is the server's role in the test cluster: neither superuser nor BYPASSRLS.
const appRole = "laatu_app"

func (c *cluster) url(role, db string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", role, c.port, db)
}

// ownerURL is the table owner's (a superuser in this throwaway cluster), appURL the server's.
func (c *cluster) ownerURL() string { return c.url("postgres", "laatu") }
func (c *cluster) appURL() string   { return c.url(appRole, "laatu") }

func (c *cluster) command(name string, args ...string) *exec.Cmd {
	if c.asUser {
		return exec.Command("runuser", append([]string{"-u", "postgres", "--", name}, args...)...)
	}
	return exec.Command(name, args...)
}

func (c *cluster) run(t *testing.T, name string, args ...string) {
	t.Helper()
	cmd := c.command(name, args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// start starts the cluster and waits until it accepts connections (after crash recovery too).
func (c *cluster) start(t *testing.T) {
	t.Helper()
	logf := filepath.Join(c.dir, "postgres.log")
	out, err := c.command(filepath.Join(pgBin, "pg_ctl"), "-D", c.data, "-l", logf, "-w", "-t", "120", "start").CombinedOutput()
	if err != nil {
		b, _ := os.ReadFile(logf)
		if len(b) > 3000 {
			b = b[len(b)-3000:]
		}
		t.Fatalf("pg_ctl start: %v\n%s\n%s", err, out, b)
	}
}

// postmaster returns the PID in postmaster.pid, the process this cluster's pg_ctl started.
func (c *cluster) postmaster(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(c.data, "postmaster.pid"))
	if err != nil {
		t.Fatalf("read postmaster.pid: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	if err != nil || pid <= 1 {
		t.Fatalf("postmaster.pid: bad PID %q", b)
	}
	// Make sure the PID is our postmaster, with our data directory, before ever signalling it.
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !strings.Contains(string(cmdline), c.data) {
		t.Fatalf("PID %d is not this cluster's postmaster (%q, %v)", pid, cmdline, err)
	}
	return pid
}

// kill SIGKILLs the postmaster and its children (the backends and auxiliary processes), as a
// crash or the OOM killer would, and waits until they are gone. It returns how many it killed.
func (c *cluster) kill(t *testing.T) int {
	t.Helper()
	pm := c.postmaster(t)
	pids := append([]int{pm}, children(pm)...)
	// Stop the postmaster first so that it cannot fork replacements, then its children.
	for _, pid := range pids {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			t.Fatalf("kill %d: %v", pid, err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, pid := range pids {
		for alive(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("PostgreSQL process %d still alive 30 s after SIGKILL", pid)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// A postmaster whose parent is gone is reparented to PID 1, and where PID 1 does not reap
	// (a container) it stays a zombie, which PostgreSQL's lock-file check takes for a running
	// postmaster. Every process of the cluster is dead, so its lock files are stale: remove them.
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", pm)); err == nil {
		sock := filepath.Join(c.dir, fmt.Sprintf(".s.PGSQL.%d", c.port))
		for _, f := range []string{filepath.Join(c.data, "postmaster.pid"), sock + ".lock", sock} {
			if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Fatal(err)
			}
		}
	}
	return len(pids)
}

// children lists the direct children of pid from /proc.
func children(pid int) []int {
	var out []int
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, task := range tasks {
		b, _ := os.ReadFile(task)
		for _, f := range strings.Fields(string(b)) {
			if c, err := strconv.Atoi(f); err == nil {
				out = append(out, c)
			}
		}
	}
	return out
}

// alive reports whether pid exists and is not a zombie. The postmaster's parent is pg_ctl's
// shell, long gone, so it is reaped by init; a zombie counts as dead.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z'
	}
	return true
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
