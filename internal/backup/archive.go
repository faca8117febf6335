// Package backup writes, checks and restores Laatu's portable backup archives.
//
// An archive is a gzip-compressed tar stream, optionally encrypted with age. It holds one
// JSON-lines entry per table (tables/<name>.jsonl, one JSON object per row, keyed by column,
// with values in dialect-independent form: times in RFC 3339 UTC, booleans as booleans, JSON
// columns as JSON, bytes as base64) and, last, manifest.json: the format version, the Laatu
// version, the time, the source dialect, the migrations applied, and for every entry its row
// count, column types and SHA-256. A reader checks every entry against the manifest before it
// trusts any of it, and a restore writes nothing until the whole archive has checked out.
//
// Tables are enumerated from the database catalog, not from a list, so that tables added by
// later migrations are backed up without a change here.
package backup

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"filippo.io/age"
)

// FormatVersion is the archive format this code writes; it reads this version and older.
const FormatVersion = 1

// LaatuVersion names the software that wrote an archive.
var LaatuVersion = "laatu (development build)"

const (
	manifestName = "manifest.json"
	tablePrefix  = "tables/"
	// maxEntry bounds one entry held in memory while an archive is read.
	maxEntry = 4 << 30
)

// Manifest describes an archive.
type Manifest struct {
	Format       int       `json:"format"`
	ID           string    `json:"id"`
	LaatuVersion string    `json:"laatuVersion"`
	CreatedAt    time.Time `json:"createdAt"`
	// Dialect is the store the backup was taken from (postgres or sqlite).
	Dialect string `json:"dialect"`
	// Company is set when the archive holds one company only.
	Company string `json:"company,omitempty"`
	// Migrations are the schema versions applied to the source database.
	Migrations []string `json:"migrations"`
	Entries    []Entry  `json:"entries"`
}

// Entry is one table of an archive.
type Entry struct {
	Name    string   `json:"name"`
	Table   string   `json:"table"`
	Rows    int      `json:"rows"`
	SHA256  string   `json:"sha256"`
	Columns []Column `json:"columns"`
}

// Column is a column of a table with its portable type: text, int, float, bool, time, json or
// bytes.
type Column struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// Rows counts the rows of every table, by table name.
func (m *Manifest) Rows() map[string]int {
	out := map[string]int{}
	for _, e := range m.Entries {
		out[e.Table] = e.Rows
	}
	return out
}

// ErrFormat is wrapped by every error about an archive's content: truncated, altered, not an
// archive, or of a newer format.
var ErrFormat = errors.New("backup: bad archive")

// ErrKey is returned when an archive is encrypted and no given identity opens it.
var ErrKey = errors.New("backup: the archive is encrypted and no identity given opens it")

func formatErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrFormat, fmt.Sprintf(format, args...))
}

// Archive is a read and checked archive: its manifest and its tables' rows.
type Archive struct {
	Manifest Manifest
	tables   map[string][]byte
}

// Table returns the rows of a table, each a map from column to its raw JSON value.
func (a *Archive) Table(name string) ([]map[string]json.RawMessage, error) {
	data := a.tables[name]
	var out []map[string]json.RawMessage
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 256<<20)
	for sc.Scan() {
		var row map[string]json.RawMessage
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			return nil, formatErr("table %s: row %d: %v", name, len(out)+1, err)
		}
		out = append(out, row)
	}
	if err := sc.Err(); err != nil {
		return nil, formatErr("table %s: %v", name, err)
	}
	return out, nil
}

// Entry returns the manifest's entry of a table.
func (a *Archive) Entry(table string) (Entry, bool) {
	for _, e := range a.Manifest.Entries {
		if e.Table == table {
			return e, true
		}
	}
	return Entry{}, false
}

// writer builds an archive.
type writer struct {
	closers []io.Closer
	tw      *tar.Writer
	m       *Manifest
	at      time.Time
}

// newWriter starts an archive on w, encrypted to recipients when there are any.
func newWriter(w io.Writer, m *Manifest, recipients []age.Recipient) (*writer, error) {
	aw := &writer{m: m, at: m.CreatedAt}
	if len(recipients) > 0 {
		enc, err := age.Encrypt(w, recipients...)
		if err != nil {
			return nil, fmt.Errorf("backup: encrypt: %w", err)
		}
		aw.closers = append(aw.closers, enc)
		w = enc
	}
	gz := gzip.NewWriter(w)
	aw.closers = append(aw.closers, gz)
	aw.tw = tar.NewWriter(gz)
	return aw, nil
}

func (aw *writer) put(name string, data []byte) error {
	hdr := &tar.Header{Name: name, Mode: 0o600, Size: int64(len(data)), ModTime: aw.at, Typeflag: tar.TypeReg}
	if err := aw.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("backup: write %s: %w", name, err)
	}
	if _, err := aw.tw.Write(data); err != nil {
		return fmt.Errorf("backup: write %s: %w", name, err)
	}
	return nil
}

// table adds a table's rows (JSON lines) and records its entry.
func (aw *writer) table(name string, cols []Column, rows int, data []byte) error {
	sum := sha256.Sum256(data)
	e := Entry{Name: tablePrefix + name + ".jsonl", Table: name, Rows: rows, SHA256: hex.EncodeToString(sum[:]), Columns: cols}
	aw.m.Entries = append(aw.m.Entries, e)
	return aw.put(e.Name, data)
}

// close writes the manifest and ends the streams.
func (aw *writer) close() error {
	b, err := json.MarshalIndent(aw.m, "", "  ")
	if err != nil {
		return err
	}
	if err := aw.put(manifestName, b); err != nil {
		return err
	}
	if err := aw.tw.Close(); err != nil {
		return fmt.Errorf("backup: close archive: %w", err)
	}
	for i := len(aw.closers) - 1; i >= 0; i-- {
		if err := aw.closers[i].Close(); err != nil {
			return fmt.Errorf("backup: close archive: %w", err)
		}
	}
	return nil
}

const ageHeader = "age-encryption.org/v1"

// Read reads an archive whole and checks it: every entry against the manifest's checksum and
// row count, no entry missing or extra, a format this code knows. Encrypted archives need one
// of identities. Nothing in a returned Archive is unchecked.
func Read(r io.Reader, identities []age.Identity) (*Archive, error) {
	br := bufio.NewReader(r)
	head, _ := br.Peek(len(ageHeader))
	var src io.Reader = br
	if string(head) == ageHeader {
		if len(identities) == 0 {
			return nil, fmt.Errorf("%w (pass --identity FILE)", ErrKey)
		}
		dec, err := age.Decrypt(br, identities...)
		if err != nil {
			var noMatch *age.NoIdentityMatchError
			if errors.As(err, &noMatch) {
				return nil, ErrKey
			}
			return nil, formatErr("cannot decrypt: %v", err)
		}
		src = dec
	}
	gz, err := gzip.NewReader(src)
	if err != nil {
		return nil, formatErr("not a Laatu backup (no gzip stream): %v", err)
	}
	tr := tar.NewReader(gz)
	a := &Archive{tables: map[string][]byte{}}
	entries := map[string][]byte{}
	var manifest []byte
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, formatErr("truncated or corrupt (%v)", err)
		}
		if hdr.Size > maxEntry {
			return nil, formatErr("entry %s is too large", hdr.Name)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return nil, formatErr("truncated or corrupt in %s (%v)", hdr.Name, err)
		}
		if manifest != nil {
			return nil, formatErr("entry %s follows the manifest", hdr.Name)
		}
		if hdr.Name == manifestName {
			manifest = data
			continue
		}
		if _, dup := entries[hdr.Name]; dup {
			return nil, formatErr("entry %s appears twice", hdr.Name)
		}
		entries[hdr.Name] = data
	}
	// The gzip trailer's checksum is read at EOF: a truncated stream fails here at the latest.
	if _, err := io.Copy(io.Discard, gz); err != nil {
		return nil, formatErr("truncated or corrupt (%v)", err)
	}
	if manifest == nil {
		return nil, formatErr("no manifest: the archive is truncated or not a Laatu backup")
	}
	if err := json.Unmarshal(manifest, &a.Manifest); err != nil {
		return nil, formatErr("manifest: %v", err)
	}
	m := &a.Manifest
	if m.Format < 1 {
		return nil, formatErr("manifest has no format version")
	}
	if m.Format > FormatVersion {
		return nil, formatErr("format version %d is newer than this Laatu reads (%d); restore it with a newer Laatu", m.Format, FormatVersion)
	}
	seen := map[string]bool{}
	for _, e := range m.Entries {
		data, ok := entries[e.Name]
		if !ok {
			return nil, formatErr("entry %s is missing", e.Name)
		}
		if e.Name != tablePrefix+e.Table+".jsonl" || seen[e.Table] {
			return nil, formatErr("entry %s is misnamed", e.Name)
		}
		seen[e.Table] = true
		sum := sha256.Sum256(data)
		if hex.EncodeToString(sum[:]) != e.SHA256 {
			return nil, formatErr("entry %s does not match its checksum: the archive was altered or damaged", e.Name)
		}
		if n := bytes.Count(data, []byte("\n")); n != e.Rows {
			return nil, formatErr("entry %s holds %d rows, the manifest says %d", e.Name, n, e.Rows)
		}
		a.tables[e.Table] = data
		delete(entries, e.Name)
	}
	if len(entries) > 0 {
		var extra []string
		for n := range entries {
			extra = append(extra, n)
		}
		sort.Strings(extra)
		return nil, formatErr("entries not in the manifest: %s", strings.Join(extra, ", "))
	}
	return a, nil
}

// ParseRecipients reads age recipients (age1... public keys), comma-separated.
func ParseRecipients(s string) ([]age.Recipient, error) {
	var out []age.Recipient
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		r, err := age.ParseX25519Recipient(part)
		if err != nil {
			return nil, fmt.Errorf("backup: recipient %q: %w", part, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// ParseIdentities reads an age identity file (AGE-SECRET-KEY-... lines).
func ParseIdentities(r io.Reader) ([]age.Identity, error) {
	ids, err := age.ParseIdentities(r)
	if err != nil {
		return nil, fmt.Errorf("backup: identity file: %w", err)
	}
	return ids, nil
}

// portable turns a scanned database value into its archive form for a column of type typ.
func portable(typ string, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch typ {
	case "bool":
		switch x := v.(type) {
		case bool:
			return x, nil
		case int64:
			return x != 0, nil
		}
	case "time":
		switch x := v.(type) {
		case time.Time:
			return x.UTC().Format(time.RFC3339Nano), nil
		case string:
			t, err := parseTime(x)
			if err != nil {
				return nil, err
			}
			return t.Format(time.RFC3339Nano), nil
		case []byte:
			t, err := parseTime(string(x))
			if err != nil {
				return nil, err
			}
			return t.Format(time.RFC3339Nano), nil
		}
	case "json":
		var raw []byte
		switch x := v.(type) {
		case []byte:
			raw = x
		case string:
			raw = []byte(x)
		}
		var compact bytes.Buffer
		if raw != nil && json.Compact(&compact, raw) == nil {
			return json.RawMessage(compact.Bytes()), nil
		}
	case "bytes":
		switch x := v.(type) {
		case []byte:
			return x, nil
		case string:
			return []byte(x), nil
		}
	case "int":
		switch x := v.(type) {
		case int64:
			return x, nil
		case int:
			return int64(x), nil
		}
	case "float":
		switch x := v.(type) {
		case float64:
			return x, nil
		case int64:
			return float64(x), nil
		}
	default:
		switch x := v.(type) {
		case string:
			return x, nil
		case []byte:
			return string(x), nil
		case time.Time:
			return x.UTC().Format(time.RFC3339Nano), nil
		case int64, float64, bool:
			return fmt.Sprint(x), nil
		}
	}
	return nil, fmt.Errorf("backup: cannot store a %T as %s", v, typ)
}

var timeLayouts = []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999-07:00", "2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999", "2006-01-02"}

func parseTime(s string) (time.Time, error) {
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("backup: %q is not a time", s)
}

// native turns an archive value of type from back into a value for a column of type typ. The
// two differ across dialects for JSON: PostgreSQL keeps it as jsonb, SQLite as text.
func native(typ, from string, raw json.RawMessage) (any, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	switch typ {
	case "bool":
		var b bool
		err := json.Unmarshal(raw, &b)
		return b, err
	case "time":
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		return time.Parse(time.RFC3339Nano, s)
	case "json":
		if from == "json" {
			return string(raw), nil
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		if !json.Valid([]byte(s)) {
			return nil, errors.New("invalid JSON")
		}
		return s, nil
	case "bytes":
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		return base64.StdEncoding.DecodeString(s)
	case "int":
		var n int64
		err := json.Unmarshal(raw, &n)
		return n, err
	case "float":
		var f float64
		err := json.Unmarshal(raw, &f)
		return f, err
	}
	if from == "json" {
		return string(raw), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, err
	}
	return s, nil
}

// portableType maps a column's declared type to its archive type.
func portableType(decl string) string {
	d := strings.ToUpper(decl)
	switch {
	case strings.Contains(d, "BOOL"):
		return "bool"
	case strings.Contains(d, "TIMESTAMP") || d == "DATE" || d == "DATETIME" || d == "TIMESTAMPTZ":
		return "time"
	case strings.Contains(d, "JSON"):
		return "json"
	case d == "BYTEA" || d == "BLOB":
		return "bytes"
	case strings.Contains(d, "INT"):
		return "int"
	case strings.Contains(d, "REAL") || strings.Contains(d, "FLOA") || strings.Contains(d, "DOUB") || strings.Contains(d, "NUMERIC") || strings.Contains(d, "DECIMAL"):
		return "float"
	}
	return "text"
}
