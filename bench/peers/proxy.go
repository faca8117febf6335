package main

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
)

// stmt is one statement a client sent to PostgreSQL, with its parameters inlined as literals.
type stmt struct {
	Conn int
	SQL  string
	// Msg numbers the protocol message the statement came in; Implicit marks the statements
	// of one simple Query message holding several, which PostgreSQL runs as one transaction
	// when no transaction is open.
	Msg      int
	Implicit bool
}

// pgProxy sits between Laatu and PostgreSQL on loopback and records every statement the server
// sends (simple Query messages, and Parse/Bind/Execute of the extended protocol), so the bench
// can count statements per request and replay them under EXPLAIN without touching the
// cluster's logging configuration. It is used only for calibration, never while measuring.
type pgProxy struct {
	ln       net.Listener
	upstream string

	mu    sync.Mutex
	stmts []stmt
	conns int
	msgs  int
}

func startProxy(upstream string) (*pgProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &pgProxy{ln: ln, upstream: upstream}
	go p.serve()
	return p, nil
}

func (p *pgProxy) Addr() string { return p.ln.Addr().String() }

func (p *pgProxy) Close() error { return p.ln.Close() }

// Take returns the statements recorded since the last Take and forgets them.
func (p *pgProxy) Take() []stmt {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.stmts
	p.stmts = nil
	return out
}

func (p *pgProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		p.conns++
		id := p.conns
		p.mu.Unlock()
		go p.handle(id, c)
	}
}

func (p *pgProxy) handle(id int, client net.Conn) {
	defer client.Close()
	server, err := net.Dial("tcp", p.upstream)
	if err != nil {
		return
	}
	defer server.Close()
	go func() {
		_, _ = io.Copy(client, server)
		_ = client.Close()
	}()
	r := bufio.NewReaderSize(client, 64<<10)
	// The startup message has no type byte.
	var lenBuf [4]byte
	if _, err := io.ReadFull(r, lenBuf[:]); err != nil {
		return
	}
	n := binary.BigEndian.Uint32(lenBuf[:])
	startup := make([]byte, n)
	copy(startup, lenBuf[:])
	if _, err := io.ReadFull(r, startup[4:]); err != nil {
		return
	}
	if _, err := server.Write(startup); err != nil {
		return
	}
	var pending stmt // the last Parse, waiting for its Bind
	var query string
	for {
		typ, err := r.ReadByte()
		if err != nil {
			return
		}
		if _, err := io.ReadFull(r, lenBuf[:]); err != nil {
			return
		}
		n := binary.BigEndian.Uint32(lenBuf[:])
		msg := make([]byte, 1+n)
		msg[0] = typ
		copy(msg[1:], lenBuf[:])
		if _, err := io.ReadFull(r, msg[5:]); err != nil {
			return
		}
		body := msg[5:]
		switch typ {
		case 'Q':
			parts := splitSQL(cstring(body))
			for _, q := range parts {
				p.record(stmt{Conn: id, SQL: q, Implicit: len(parts) > 1})
			}
			p.nextMsg()
		case 'P':
			_, rest := cut(body)
			query, _ = cut(rest)
			pending = stmt{Conn: id, SQL: query}
		case 'B':
			pending.SQL = inline(query, body)
		case 'E':
			p.record(pending)
			p.nextMsg()
		}
		if _, err := server.Write(msg); err != nil {
			return
		}
	}
}

func (p *pgProxy) record(s stmt) {
	p.mu.Lock()
	s.Msg = p.msgs
	p.stmts = append(p.stmts, s)
	p.mu.Unlock()
}

func (p *pgProxy) nextMsg() {
	p.mu.Lock()
	p.msgs++
	p.mu.Unlock()
}

// splitSQL splits a simple Query's text into its statements at the semicolons that are not in
// a string, a quoted identifier, a dollar-quoted body or a comment.
func splitSQL(q string) []string {
	var out []string
	start := 0
	emit := func(end int) {
		if s := strings.TrimSpace(q[start:end]); s != "" {
			out = append(out, s)
		}
		start = end + 1
	}
	for i := 0; i < len(q); i++ {
		switch c := q[i]; {
		case c == '\'':
			escapes := i > 0 && (q[i-1] == 'E' || q[i-1] == 'e')
			for i++; i < len(q); i++ {
				if escapes && q[i] == '\\' {
					i++
				} else if q[i] == '\'' {
					if i+1 < len(q) && q[i+1] == '\'' {
						i++
						continue
					}
					break
				}
			}
		case c == '"':
			for i++; i < len(q) && q[i] != '"'; i++ {
			}
		case c == '-' && i+1 < len(q) && q[i+1] == '-':
			for ; i < len(q) && q[i] != '\n'; i++ {
			}
		case c == '$':
			j := i + 1
			for j < len(q) && (q[j] == '_' || q[j] >= 'a' && q[j] <= 'z' || q[j] >= 'A' && q[j] <= 'Z') {
				j++
			}
			if j < len(q) && q[j] == '$' {
				tag := q[i : j+1]
				if k := strings.Index(q[j+1:], tag); k >= 0 {
					i = j + 1 + k + len(tag) - 1
				} else {
					i = len(q)
				}
			}
		case c == ';':
			emit(i)
		}
	}
	emit(len(q))
	return out
}

func cstring(b []byte) string { s, _ := cut(b); return s }

// cut splits a NUL-terminated string off b.
func cut(b []byte) (string, []byte) {
	for i, c := range b {
		if c == 0 {
			return string(b[:i]), b[i+1:]
		}
	}
	return string(b), nil
}

// inline substitutes a Bind message's parameters into query as literals, for replay.
func inline(query string, bind []byte) string {
	_, b := cut(bind) // portal
	_, b = cut(b)     // statement
	if len(b) < 2 {
		return query
	}
	nf := int(binary.BigEndian.Uint16(b))
	b = b[2:]
	formats := make([]uint16, nf)
	for i := range formats {
		formats[i] = binary.BigEndian.Uint16(b)
		b = b[2:]
	}
	np := int(binary.BigEndian.Uint16(b))
	b = b[2:]
	vals := make([]string, np)
	for i := range vals {
		l := int32(binary.BigEndian.Uint32(b))
		b = b[4:]
		if l < 0 {
			vals[i] = "NULL"
			continue
		}
		v := b[:l]
		b = b[l:]
		f := uint16(0)
		if nf == 1 {
			f = formats[0]
		} else if i < nf {
			f = formats[i]
		}
		if f == 1 {
			vals[i] = `'\x` + hex.EncodeToString(v) + `'::bytea`
		} else {
			vals[i] = "'" + strings.ReplaceAll(string(v), "'", "''") + "'"
		}
	}
	for i := np; i >= 1; i-- { // from the highest, so $1 does not eat $10
		query = strings.ReplaceAll(query, fmt.Sprintf("$%d", i), vals[i-1])
	}
	return query
}
