package storage

import (
	"encoding/base64"
	"encoding/json"
	"time"

	"github.com/laatu/laatu/internal/errs"
)

// MaxPageSize caps every connection's page: a client asking for more gets BAD_USER_INPUT.
const MaxPageSize = 100

// DefaultPageSize is the page size when a client sends no `first`.
const DefaultPageSize = 20

// PageArgs is a request for one page of a list: up to First items after the After cursor, or,
// paging backward (Backward, only where a list offers last/before), the Last items before the
// Before cursor, still in the list's order.
type PageArgs struct {
	First int
	After string

	Backward bool
	Last     int
	Before   string
}

// NewBackwardPageArgs validates a client's first/after or last/before: one direction at a
// time.
func NewBackwardPageArgs(first *int, after *string, last *int, before *string) (PageArgs, error) {
	if last == nil && before == nil {
		return NewPageArgs(first, after)
	}
	if first != nil || after != nil {
		return PageArgs{}, errs.Invalid("last", "page forward with first and after, or backward with last and before, not both")
	}
	n, cur, err := pageBound("last", last, before)
	return PageArgs{Backward: true, Last: n, Before: cur}, err
}

// NewPageArgs validates a client's first/after.
func NewPageArgs(first *int, after *string) (PageArgs, error) {
	n, cur, err := pageBound("first", first, after)
	return PageArgs{First: n, After: cur}, err
}

// pageBound validates one direction's page size (named field; DefaultPageSize when absent)
// and cursor.
func pageBound(field string, size *int, cursor *string) (int, string, error) {
	n := DefaultPageSize
	if size != nil {
		if *size < 0 || *size > MaxPageSize {
			return n, "", errs.Invalid(field, "%s must be between 0 and %d", field, MaxPageSize)
		}
		n = *size
	}
	if cursor == nil {
		return n, "", nil
	}
	if _, err := decodeCursor(*cursor); err != nil {
		return n, "", err
	}
	return n, *cursor, nil
}

// Page is one page of a list. Total counts the whole list, and is computed only when asked.
type Page[T any] struct {
	Items   []T
	HasNext bool
	// HasPrev is set on a backward page that has items before it.
	HasPrev bool
	// Cursors[i] is the cursor of Items[i].
	Cursors []string
	Total   func() (int, error)
}

// cursor is a position in a sorted list: the sort key's value and the id, as tie breaker.
type cursor struct {
	Key any    `json:"k"`
	ID  string `json:"i"`
}

func encodeCursor(key any, id string) string {
	if t, ok := key.(time.Time); ok {
		key = t.UTC().Format(time.RFC3339Nano)
	}
	b, _ := json.Marshal(cursor{Key: key, ID: id})
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (cursor, error) {
	var c cursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) > 1024 || json.Unmarshal(b, &c) != nil || !validID(c.ID) {
		return c, errs.Invalid("after", "after is not a cursor returned by this list")
	}
	return c, nil
}

// timeKey reads a cursor key that holds a time.
func (c cursor) timeKey() (time.Time, error) {
	s, _ := c.Key.(string)
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return t, errs.Invalid("after", "after is not a cursor returned by this list")
	}
	return t, nil
}

// stringKey reads a cursor key that holds a string.
func (c cursor) stringKey() (string, error) {
	s, ok := c.Key.(string)
	if !ok {
		return "", errs.Invalid("after", "after is not a cursor returned by this list")
	}
	return s, nil
}
