package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// CPU per request: throughput on a shared 2-core machine moves with whatever else runs, but the
// CPU time a server and its database spend per answered request does not (much). Each measured
// cell therefore also reads the CPU time (user + system, from /proc) of the server's processes
// and of the PostgreSQL backends connected to its database, before and after the run.

// clockTicks is the unit of /proc/PID/stat's utime and stime (USER_HZ, 100 on Linux).
const clockTicks = 100

// cpuTimes returns each pid's CPU time so far, in clock ticks; pids that are gone are left out.
func cpuTimes(pids []int) map[int]int64 {
	out := make(map[int]int64, len(pids))
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// The command name (field 2) may hold spaces; the fields after its ')' are fixed.
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) < 13 {
			continue
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		k, _ := strconv.ParseInt(f[12], 10, 64)
		out[pid] = u + k
	}
	return out
}

// cpuSince is the CPU time, in milliseconds, that the processes of after spent since before: the
// difference for processes in both, the whole time of those that started in between.
func cpuSince(before, after map[int]int64) float64 {
	var ticks int64
	for pid, t := range after {
		ticks += t - before[pid]
	}
	return float64(ticks) * 1000 / clockTicks
}

// backends lists the PIDs of the PostgreSQL backends connected to database db.
func backends(ctx context.Context, adminURL, db string) ([]int, error) {
	conn, err := sql.Open("postgres", adminURL)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	rows, err := conn.QueryContext(ctx, "SELECT pid FROM pg_stat_activity WHERE datname = $1", db)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var pids []int
	for rows.Next() {
		var pid int
		if err := rows.Scan(&pid); err != nil {
			return nil, err
		}
		pids = append(pids, pid)
	}
	return pids, rows.Err()
}

// pids returns the process and its descendants.
func (p *proc) pids() []int {
	var out []int
	p.walk(func(pid int) { out = append(out, pid) })
	return out
}
