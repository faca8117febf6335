package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
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
	ActionLogout          = "LOGOUT"
	ActionPasswordChanged = "PASSWORD_CHANGED"
	ActionMemberAdded     = "MEMBER_ADDED"
	ActionLevelChanged    = "LEVEL_CHANGED"
	ActionAccessDenied    = "ACCESS_DENIED"
)

// Event is one audit event. Callers of Record set Action, CompanyID (NoCompany for events
// outside any company), ObjectType, ObjectID and Fields; the Auditor fills in who, when and
// from where from the context, and the chain columns (Seq, PrevHash, Hash) when it is written.
type Event struct {
	bun.BaseModel `bun:"table:audit_events,alias:audit_event"`

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
	fields, err := canonicalFields(e.Fields)
	if err != nil {
		return nil, err
	}
	var actor any
	if e.ActorID != nil {
		actor = *e.ActorID
	}
	roots := e.RootFields
	if roots == nil {
		roots = []string{}
	}
	return json.Marshal([]any{
		encodingVersion, e.CompanyID, e.Seq, e.ID, e.OccurredAt.UTC().Format(timeLayout), e.RequestID,
		e.OperationType, e.OperationName, e.OperationHash, roots, actor, e.PrincipalKind,
		e.PrincipalLevel, e.GrantID, e.SessionID, e.ClientIP, e.UserAgent, e.Action, e.ObjectType,
		e.ObjectID, fields, e.PrevHash,
	})
}

// computeHash returns the hash e should carry.
func (e *Event) computeHash() (string, error) {
	b, err := e.canonical()
	if err != nil {
		return "", fmt.Errorf("audit: encode event %d: %w", e.Seq, err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// canonicalFields encodes fields in their normalized form.
func canonicalFields(fields []Field) (json.RawMessage, error) {
	norm, err := normalizeFields(fields)
	if err != nil {
		return nil, err
	}
	return json.Marshal(norm)
}

// normalizeFields returns fields with before/after values reduced to what survives a JSON
// database column: nil, bool, string, float64, []any and map[string]any.
func normalizeFields(fields []Field) ([]Field, error) {
	out := make([]Field, len(fields))
	for i, f := range fields {
		out[i] = Field{Field: f.Field, Personal: f.Personal}
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
// with negative zero as zero; a number beyond float64 range is kept as its text.
func normalizeNumbers(v any) any {
	switch x := v.(type) {
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
		for k := range x {
			x[k] = normalizeNumbers(x[k])
		}
	}
	return v
}

// normalizeID returns id as a lowercase UUID, or an error when it is not one.
func normalizeID(what, id string) (string, error) {
	u, err := uuid.Parse(id)
	if err != nil || len(id) != 36 {
		return "", fmt.Errorf("audit: %s %q is not a UUID", what, id)
	}
	return u.String(), nil
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
	if e.RootFields == nil {
		e.RootFields = []string{}
	}
	if e.Fields, err = normalizeFields(e.Fields); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
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

// sortedFieldNames turns a set of field paths into VIEW fields, sorted.
func sortedFieldNames(set map[string]struct{}) []Field {
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]Field, len(names))
	for i, n := range names {
		out[i] = Field{Field: n}
	}
	return out
}
