package pubsub

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// KindResync is the Kind of the synthetic event a Broker sends to every subscription after
// its PostgreSQL listener reconnected: events may have been missed while it was away, so the
// subscriber should reload whatever it shows. Publishers may not use it.
const KindResync = "RESYNC"

// MaxPayload is the largest wire payload in bytes, topic and separator included.
// pg_notify refuses payloads of 8000 bytes or more.
const MaxPayload = 7999

// ErrTooLarge is returned by Publish when an encoded event exceeds MaxPayload.
var ErrTooLarge = errors.New("pubsub: event payload too large")

// Event says that something changed. It carries ids only, never row data: each subscriber
// loads the object again, as itself, and is re-authorized, so an event can never leak what
// a subscriber may not see.
type Event struct {
	// Topic routes the event, e.g. CompanyTopic(id) or UserTopic(id). It travels in front of
	// the JSON body, not inside it, so that a receiver can route without decoding.
	Topic      string `json:"-"`
	Kind       string `json:"kind"`
	CompanyID  string `json:"companyId,omitempty"`
	ObjectType string `json:"objectType,omitempty"`
	ObjectID   string `json:"objectId,omitempty"`
	// FolderID is the folder the change happened in: a document's or comment's folder, or
	// the changed folder itself.
	FolderID string `json:"folderId,omitempty"`
	// Path is the materialized folder path of the change (/root/child/folder/: a document's
	// folder path, a folder's own path), so that subscribers to a folder can match changes
	// below it without a query. Empty when it would not fit in a notification.
	Path string `json:"path,omitempty"`
	// DocumentID is the document a comment was added to.
	DocumentID string `json:"documentId,omitempty"`
	// ChainSeq is, in a KindAudit event, the seq of the last audit event it announces: every
	// event of the company's chain up to it has committed.
	ChainSeq int64 `json:"chainSeq,omitempty"`
	// Seq numbers the dispatches of one Broker: every subscription that receives the same
	// dispatch sees the same Seq, so that work done for one event can be shared among its
	// subscribers. It is set by the Broker and never sent.
	Seq uint64 `json:"-"`
}

// KindAudit is the Kind of the events on AuditTopic: one company's audit chain grew up to
// ChainSeq, and ObjectID is the id of the event there. One event announces all that one
// transaction appended to the chain.
const KindAudit = "AUDIT"

// CompanyTopic is the topic of changes to the objects of one company.
func CompanyTopic(companyID string) string { return "company:" + companyID }

// UserTopic is the topic of changes to one user's grants and memberships, across companies.
func UserTopic(userID string) string { return "user:" + userID }

// SessionsTopic carries changes to users' sessions and memberships (ObjectID is the user), so
// that every instance forgets the sessions it has cached for that user.
const SessionsTopic = "sessions"

// AuditTopic is the topic of one company's new audit events, for the live audit tail. It is
// apart from CompanyTopic because every view is an audit event: the followers of objects
// must not wade through them.
func AuditTopic(companyID string) string { return "audit:" + companyID }

// validTopic reports why topic cannot be used, if it cannot. A newline would break the wire
// format, which ends the topic at the first one; PostgreSQL text cannot hold a NUL.
func validTopic(topic string) error {
	switch {
	case topic == "":
		return errors.New("pubsub: empty topic")
	case strings.ContainsAny(topic, "\n\x00"):
		return fmt.Errorf("pubsub: topic %q contains a newline or NUL", topic)
	}
	return nil
}

// encode returns the wire form "<topic>\n<json>", checking that it fits in a notification.
func (ev Event) encode() (string, error) {
	if err := validTopic(ev.Topic); err != nil {
		return "", err
	}
	switch ev.Kind {
	case "":
		return "", errors.New("pubsub: event without a kind")
	case KindResync:
		return "", fmt.Errorf("pubsub: kind %s is reserved for the broker", KindResync)
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return "", fmt.Errorf("pubsub: encode event: %w", err)
	}
	payload := ev.Topic + "\n" + string(body)
	if len(payload) > MaxPayload {
		return "", fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(payload), MaxPayload)
	}
	return payload, nil
}

// cutPayload splits a wire payload into its topic and its JSON body.
func cutPayload(payload string) (topic, body string, ok bool) {
	topic, body, ok = strings.Cut(payload, "\n")
	return topic, body, ok && topic != ""
}

// decodeBody decodes the JSON part of a wire payload whose topic was already split off.
func decodeBody(topic, body string) (Event, error) {
	var ev Event
	if err := json.Unmarshal([]byte(body), &ev); err != nil {
		return Event{}, fmt.Errorf("pubsub: decode event on %q: %w", topic, err)
	}
	ev.Topic = topic
	return ev, nil
}
