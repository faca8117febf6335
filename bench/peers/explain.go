package main

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"strings"
)

// explain replays the statements of one request as the server's role and returns the plan of
// each under EXPLAIN (ANALYZE, BUFFERS), as Markdown. Every statement runs in a transaction of
// its own that carries the settings its connection's transaction had set before it (so
// row-level security sees the same app.company_id and app.user_id) and is rolled back, so
// explaining a write changes nothing.
func explain(ctx context.Context, appURL string, stmts []stmt) (string, error) {
	db, err := sql.Open("postgres", appURL)
	if err != nil {
		return "", err
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	var b, sum strings.Builder
	settings := map[int][]string{} // per recorded connection, in its open transaction
	lastMsg := map[int]int{}
	n := 0
	for _, s := range stmts {
		q := strings.TrimSpace(s.SQL)
		if s.Implicit && lastMsg[s.Conn] != s.Msg {
			settings[s.Conn] = nil // a new implicit transaction
		}
		lastMsg[s.Conn] = s.Msg
		switch kind(q) {
		case "":
			continue
		case "begin", "end":
			settings[s.Conn] = nil
			continue
		case "setting":
			settings[s.Conn] = append(settings[s.Conn], q)
			continue
		}
		n++
		fmt.Fprintf(&b, "### Statement %d (connection %d)\n\n```sql\n%s\n```\n\n", n, s.Conn, shorten(q, 1500))
		plan, err := explainOne(ctx, conn, settings[s.Conn], "EXPLAIN (ANALYZE, BUFFERS) ", q)
		if err != nil && strings.Contains(err.Error(), "23505") {
			// Replaying the audit's INSERT collides with the row it wrote: show its plan only.
			fmt.Fprintf(&b, "Plan only (replaying it would duplicate the committed row: %v):\n\n", err)
			plan, err = explainOne(ctx, conn, settings[s.Conn], "EXPLAIN ", q)
		}
		if err != nil {
			fmt.Fprintf(&b, "EXPLAIN failed: %v\n\n", err)
			fmt.Fprintf(&sum, "| %d | | EXPLAIN failed | |\n", n)
			continue
		}
		fmt.Fprintf(&b, "```\n%s\n```\n\n", plan)
		sum.WriteString(summaryRow(n, q, plan))
	}
	return "| # | statement | top plan node | execution time |\n|---|---|---|---|\n" + sum.String() + "\n" + b.String(), nil
}

// kind classifies a recorded statement: "begin", "end" (COMMIT or ROLLBACK), "setting"
// (set_config or SET), "query", or "" when empty.
func kind(sql string) string {
	low := strings.ToLower(strings.TrimSpace(sql))
	switch {
	case low == "":
		return ""
	case strings.HasPrefix(low, "begin") || strings.HasPrefix(low, "start transaction"):
		return "begin"
	case strings.HasPrefix(low, "commit") || strings.HasPrefix(low, "rollback") || strings.HasPrefix(low, "end"):
		return "end"
	case strings.Contains(low, "set_config(") || strings.HasPrefix(low, "set "):
		return "setting"
	}
	return "query"
}

// transactions counts the transactions stmts ran in: explicit ones, the implicit one of each
// multi-statement message, and each statement outside both (autocommit).
func transactions(stmts []stmt) int {
	open := map[int]bool{}
	seen := map[int]bool{}
	n := 0
	for _, s := range stmts {
		switch kind(s.SQL) {
		case "":
			continue
		case "begin":
			open[s.Conn] = true
			n++
			continue
		case "end":
			open[s.Conn] = false
			continue
		}
		switch {
		case open[s.Conn]:
		case s.Implicit:
			if !seen[s.Msg] {
				seen[s.Msg] = true
				n++
			}
		default:
			n++
		}
	}
	return n
}

func explainOne(ctx context.Context, conn *sql.Conn, settings []string, how, q string) (string, error) {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return "", err
	}
	defer func() { _ = tx.Rollback() }()
	for _, s := range settings {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			return "", fmt.Errorf("%s: %w", s, err)
		}
	}
	rows, err := tx.QueryContext(ctx, how+q)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var l string
		if err := rows.Scan(&l); err != nil {
			return "", err
		}
		lines = append(lines, l)
	}
	return strings.Join(lines, "\n"), rows.Err()
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + " …"
}

var (
	reTable = regexp.MustCompile(`(?i)\b(?:FROM|INTO|UPDATE)\s+(?:\(SELECT \* FROM\s+)?"?(\w+)"?`)
	reExec  = regexp.MustCompile(`Execution Time: ([\d.]+ ms)`)
)

// summaryRow is one line of the table that heads the EXPLAIN capture.
func summaryRow(n int, q, plan string) string {
	table := ""
	if m := reTable.FindStringSubmatch(q); m != nil {
		table = m[1]
	}
	verb := strings.ToUpper(strings.Fields(q)[0])
	top := strings.TrimSpace(strings.SplitN(plan, "\n", 2)[0])
	if i := strings.Index(top, "  (cost="); i >= 0 {
		if j := strings.Index(top, "(actual"); j >= 0 {
			top = top[:i] + " " + top[j:]
		}
	}
	exec := "plan only"
	if m := reExec.FindStringSubmatch(plan); m != nil {
		exec = m[1]
	}
	return fmt.Sprintf("| %d | %s %s | `%s` | %s |\n", n, verb, table, strings.ReplaceAll(top, "|", "\\|"), exec)
}
