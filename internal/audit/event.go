package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// NoCompany is the company id of the chain of events that belong to no company, such as
// logins and failed logins.
const NoCompany = "00000000-0000-0000-0000-000000000000"

// Genesis is the prev_hash of the first event of every chain.
const Genesis = "0000000000000000000000000000000000000000000000000000000000000000"

// encodingVersion opens the canonical encoding, so that a later format can be told apart.
const encodingVersion = "laatu.audit.v1"

// The actions. Changes use the storage change kinds (CREATE, UPDATE, ...) as they are.
const (
	ActionView            = "VIEW"
	ActionCreate          = "CREATE"
	ActionUpdate          = "UPDATE"
	ActionDelete          = "DELETE"
	ActionRestore         = "RESTORE"
	ActionShare           = "SHARE"
	ActionUnshare         = "UNSHARE"
	ActionSign            = "SIGN"
	ActionExport          = "EXPORT"
	ActionLogin           = "LOGIN"
	ActionLoginFailed     = "LOGIN_FAILED"
	ActionLoginThrottled  = "LOGIN_THROTTLED"
	ActionLogout          = "LOGOUT"
	ActionPasswordChanged = "PASSWORD_CHANGED"
	ActionMemberAdded     = "MEMBER_ADDED"
	ActionLevelChanged    = "LEVEL_CHANGED"
	ActionAccessDenied    = "ACCESS_DENIED"
	// ActionErase is the erasure of a person's personal data (storage.ChangeErased).
	ActionErase = "ERASE"
)

// Event is one audit event. Callers of Record set Action, CompanyID (NoCompany for events
// outside any company), ObjectType, ObjectID and Fields; the Auditor fills in who, when and
// from where from the context, and the chain columns (Seq, PrevHash, Hash) when it is written.
//
// Events are stored in rows of runs (rows.go): read them through row, never as a model of
// their own.
type Event struct {
	CompanyID string `bun:"company_id,pk"`
	// Seq numbers the events of one company: 1, 2, 3, ... without gaps.
	Seq        int64     `bun:"seq,pk"`
	ID         string    `bun:"id"`
	OccurredAt time.Time `bun:"occurred_at"`
	RequestID  string    `bun:"request_id"`
	// OperationType, OperationName, OperationHash and RootFields describe the GraphQL
	// operation, as parsed by the server (the name alone is the client's choice).
	OperationType string   `bun:"operation_type"`
	OperationName string   `bun:"operation_name"`
	OperationHash string   `bun:"operation_hash"`
	RootFields    []string `bun:"root_fields,type:jsonb"`
	// ActorID is the user who acted, nil for the system and anonymous callers. It is not a
	// foreign key: erasing a user must not break the chain.
	ActorID *string `bun:"actor_id"`
	// PrincipalKind is MEMBER, GUEST, SYSTEM or ANONYMOUS (access.Kind) in the event's company.
	PrincipalKind string `bun:"principal_kind"`
	// PrincipalLevel is the actor's membership level in the event's company, if any.
	PrincipalLevel string `bun:"principal_level"`
	// GrantID is the grant that admitted a guest, when known.
	GrantID    string  `bun:"grant_id"`
	SessionID  string  `bun:"session_id"`
	ClientIP   string  `bun:"client_ip"`
	UserAgent  string  `bun:"user_agent"`
	Action     string  `bun:"action"`
	ObjectType string  `bun:"object_type"`
	ObjectID   string  `bun:"object_id"`
	Fields     []Field `bun:"fields,type:jsonb"`
	// PrevHash is the hash of the previous event of the company (or checkpoint, or Genesis).
	PrevHash string `bun:"prev_hash"`
	// Hash is SHA-256 over the canonical encoding of every other column (see the package doc).
	Hash string `bun:"hash"`
}

// Field is one field of an event: for VIEW a field path the response contained, for changes a
// changed field with its values before and after. Values of personal fields are never copied.
type Field struct {
	Field    string `json:"field"`
	Before   any    `json:"before,omitempty"`
	After    any    `json:"after,omitempty"`
	Personal bool   `json:"personal,omitempty"`
}

// timeLayout is the canonical form of occurred_at: UTC, always six fractional digits.
const timeLayout = "2006-01-02T15:04:05.000000Z"

// canonical returns the canonical encoding of e: everything but Hash (see the package doc).
func (e *Event) canonical() ([]byte, error) {
	return e.appendCanonical(nil)
}

// appendCanonical appends the canonical encoding of e to b. It writes the JSON array itself,
// byte for byte as encoding/json would marshal the []any of the package doc, because every
// event is hashed on its way in: reflection over a slice of interfaces costs more than the
// rest of the write.
func (e *Event) appendCanonical(b []byte) ([]byte, error) {
	b = append(b, '[')
	b = appendJSONString(b, encodingVersion)
	b = append(b, ',')
	b = appendJSONString(b, e.CompanyID)
	b = append(b, ',')
	b = strconv.AppendInt(b, e.Seq, 10)
	b = append(b, ',')
	b = appendJSONString(b, e.ID)
	b = append(b, ',', '"')
	b = e.OccurredAt.UTC().AppendFormat(b, timeLayout) // digits and -:.TZ, nothing to escape
	b = append(b, '"')
	for _, s := range []string{e.RequestID, e.OperationType, e.OperationName, e.OperationHash} {
		b = append(b, ',')
		b = appendJSONString(b, s)
	}
	b = append(b, ',')
	b = appendJSONStrings(b, e.RootFields)
	b = append(b, ',')
	if e.ActorID != nil {
		b = appendJSONString(b, *e.ActorID)
	} else {
		b = append(b, "null"...)
	}
	for _, s := range []string{e.PrincipalKind, e.PrincipalLevel, e.GrantID, e.SessionID, e.ClientIP,
		e.UserAgent, e.Action, e.ObjectType, e.ObjectID} {
		b = append(b, ',')
		b = appendJSONString(b, s)
	}
	b = append(b, ',')
	b, err := appendCanonicalFields(b, e.Fields)
	if err != nil {
		return nil, err
	}
	b = append(b, ',')
	b = appendJSONString(b, e.PrevHash)
	return append(b, ']'), nil
}

// computeHash returns the hash e should carry.
func (e *Event) computeHash() (string, error) {
	var buf [1024]byte
	b, err := e.appendCanonical(buf[:0])
	if err != nil {
		return "", fmt.Errorf("audit: encode event %d: %w", e.Seq, err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// appendCanonicalFields appends the normalized form of fields to b. Fields without values
// (every VIEW's) are written directly, the others through encoding/json.
func appendCanonicalFields(b []byte, fields []Field) ([]byte, error) {
	for _, f := range fields {
		if f.Before != nil || f.After != nil {
			norm, err := normalizeFields(fields)
			if err != nil {
				return nil, err
			}
			j, err := json.Marshal(norm)
			if err != nil {
				return nil, err
			}
			return append(b, j...), nil
		}
	}
	b = append(b, '[')
	for i, f := range fields {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"field":`...)
		b = appendJSONString(b, storable(f.Field))
		if f.Personal {
			b = append(b, `,"personal":true`...)
		}
		b = append(b, '}')
	}
	return append(b, ']'), nil
}

// appendJSONString appends s as encoding/json writes a string: printable ASCII without the
// characters it escapes is copied, anything else is left to encoding/json.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			j, _ := json.Marshal(s) // a string always marshals
			return append(b, j...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendJSONStrings appends ss as a JSON array of strings ([] for none).
func appendJSONStrings(b []byte, ss []string) []byte {
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, s)
	}
	return append(b, ']')
}

// normalizeFields returns fields with before/after values reduced to what survives a JSON
// database column: nil, bool, string, float64, []any and map[string]any.
func normalizeFields(fields []Field) ([]Field, error) {
	out := make([]Field, len(fields))
	for i, f := range fields {
		out[i] = Field{Field: storable(f.Field), Personal: f.Personal}
		if f.Personal {
			continue // only named, never copied
		}
		var err error
		if out[i].Before, err = normalizeValue(f.Before); err != nil {
			return nil, fmt.Errorf("field %s: %w", f.Field, err)
		}
		if out[i].After, err = normalizeValue(f.After); err != nil {
			return nil, fmt.Errorf("field %s: %w", f.Field, err)
		}
	}
	return out, nil
}

func normalizeValue(v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var out any
	if err := dec.Decode(&out); err != nil {
		return nil, err
	}
	return normalizeNumbers(out), nil
}

// normalizeNumbers turns every number into a float64 (how PostgreSQL's numeric and Go agree),
// with negative zero as zero; a number beyond float64 range is kept as its text. Strings and
// keys lose their NUL characters, which jsonb refuses, to U+FFFD (see storable).
func normalizeNumbers(v any) any {
	switch x := v.(type) {
	case string:
		return storable(x)
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil {
			return string(x)
		}
		if f == 0 {
			return float64(0)
		}
		return f
	case []any:
		for i := range x {
			x[i] = normalizeNumbers(x[i])
		}
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[storable(k)] = normalizeNumbers(e)
		}
		return out
	}
	return v
}

// normalizeID returns id as a lowercase UUID, or an error when it is not one.
func normalizeID(what, id string) (string, error) {
	if isLowerUUID(id) {
		return id, nil // as ids come from storage: no need to parse and print again
	}
	u, err := uuid.Parse(id)
	if err != nil || len(id) != 36 {
		return "", fmt.Errorf("audit: %s %q is not a UUID", what, id)
	}
	return u.String(), nil
}

// isLowerUUID reports whether s is a UUID in its lowercase hyphenated form.
func isLowerUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return false
			}
		case (c < '0' || c > '9') && (c < 'a' || c > 'f'):
			return false
		}
	}
	return true
}

// prepare validates e and brings it to the form it is stored and hashed in.
func (e *Event) prepare() error {
	var err error
	if e.CompanyID, err = normalizeID("company id", e.CompanyID); err != nil {
		return err
	}
	if e.ID == "" {
		e.ID = uuid.Must(uuid.NewV7()).String()
	} else if e.ID, err = normalizeID("event id", e.ID); err != nil {
		return err
	}
	if e.ActorID != nil {
		if *e.ActorID == "" {
			e.ActorID = nil
		} else {
			id, err := normalizeID("actor id", *e.ActorID)
			if err != nil {
				return err
			}
			e.ActorID = &id
		}
	}
	if strings.TrimSpace(e.Action) == "" {
		return fmt.Errorf("audit: event without action")
	}
	if e.OccurredAt.IsZero() {
		e.OccurredAt = time.Now()
	}
	e.OccurredAt = e.OccurredAt.UTC().Truncate(time.Microsecond)
	for _, s := range []*string{&e.RequestID, &e.OperationType, &e.OperationName, &e.OperationHash,
		&e.PrincipalKind, &e.PrincipalLevel, &e.GrantID, &e.SessionID, &e.ClientIP, &e.UserAgent,
		&e.Action, &e.ObjectType, &e.ObjectID} {
		*s = storable(*s)
	}
	e.RootFields = storableAll(e.RootFields)
	if e.Fields, err = normalizeFields(e.Fields); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

// storable returns s as a text column stores it: PostgreSQL refuses NUL and invalid UTF-8
// (and the database driver would change the latter), so both become U+FFFD before s is
// hashed. Otherwise one odd header would fail a whole group commit, or change on its way in
// and no longer verify.
func storable(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// storableAll returns ss with storable strings, never nil; ss itself when nothing changes, as
// the events of one operation share their root fields.
func storableAll(ss []string) []string {
	if ss == nil {
		return []string{}
	}
	for _, s := range ss {
		if storable(s) != s {
			out := make([]string, len(ss))
			for i := range ss {
				out[i] = storable(ss[i])
			}
			return out
		}
	}
	return ss
}

// afterScan brings an event read from the database to the form it was hashed in.
func (e *Event) afterScan() {
	e.OccurredAt = e.OccurredAt.UTC()
	if e.RootFields == nil {
		e.RootFields = []string{}
	}
	if e.Fields == nil {
		e.Fields = []Field{}
	}
}

// sortedFields turns distinct field paths into VIEW fields, sorted.
func sortedFields(names []string) []Field {
	slices.Sort(names)
	out := make([]Field, len(names))
	for i, n := range names {
		out[i] = Field{Field: n}
	}
	return out
}
