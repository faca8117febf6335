package main

import (
	"encoding/binary"
	"slices"
	"testing"
)

func TestSplitSQL(t *testing.T) {
	q := `SELECT set_config('a', 'x;y', true); INSERT INTO t VALUES (E'it\'s;', 'o''k;', "we;ird", $$a;b$$, $tag$c;d$tag$) -- c;d
; SELECT pg_notify('c', '{"k":";"}');`
	got := splitSQL(q)
	want := []string{`SELECT set_config('a', 'x;y', true)`,
		"INSERT INTO t VALUES (E'it\\'s;', 'o''k;', \"we;ird\", $$a;b$$, $tag$c;d$tag$) -- c;d",
		`SELECT pg_notify('c', '{"k":";"}')`}
	if !slices.Equal(got, want) {
		t.Fatalf("split:\n%q\nwant\n%q", got, want)
	}
}

func TestTransactions(t *testing.T) {
	stmts := []stmt{
		{Conn: 1, SQL: "BEGIN READ ONLY", Msg: 1}, {Conn: 1, SQL: "SELECT set_config('a', '', true)", Msg: 2},
		{Conn: 1, SQL: "SELECT 1", Msg: 3}, {Conn: 1, SQL: "COMMIT", Msg: 4},
		{Conn: 2, SQL: "SELECT set_config('a', 'b', true)", Msg: 5, Implicit: true}, {Conn: 2, SQL: "INSERT INTO t VALUES (1)", Msg: 5, Implicit: true},
		{Conn: 2, SQL: "SELECT 2", Msg: 6},
	}
	if n := transactions(stmts); n != 3 {
		t.Fatalf("transactions = %d, want 3 (explicit, implicit, autocommit)", n)
	}
}

func TestInline(t *testing.T) {
	var b []byte
	b = append(b, 0, 0)             // portal, statement
	b = append(b, 0, 2, 0, 0, 0, 1) // two formats: text, binary
	b = append(b, 0, 2)             // two values
	for _, v := range [][]byte{[]byte("it's"), {0xab, 0x01}} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
		b = append(b, v...)
	}
	got := inline("SELECT $1, $2", b)
	if want := `SELECT 'it''s', '\xab01'::bytea`; got != want {
		t.Fatalf("inline = %s, want %s", got, want)
	}
}

func TestSummaryRow(t *testing.T) {
	q := `SELECT "folder"."id" FROM (SELECT * FROM folders AS t WHERE t.x) AS "folder" WHERE x`
	plan := "Limit  (cost=52744.20..52744.22 rows=6 width=206) (actual time=27.805..27.818 rows=11 loops=1)\n  ->  Sort\nExecution Time: 29.062 ms"
	want := "| 4 | SELECT folders | `Limit (actual time=27.805..27.818 rows=11 loops=1)` | 29.062 ms |\n"
	if got := summaryRow(4, q, plan); got != want {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
}
