package graph

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/laatu/laatu/internal/errs"
)

type pgErr string

func (e pgErr) Error() string    { return "pq: " + string(e) }
func (e pgErr) SQLState() string { return string(e) }

// TestPresenterUnavailable: database outages answer UNAVAILABLE with a retry hint, bugs stay
// INTERNAL, and a client that hung up is not logged as a server fault.
func TestPresenterUnavailable(t *testing.T) {
	var log bytes.Buffer
	base := zerolog.New(&log).WithContext(context.Background())
	present := func(ctx context.Context, err error) (code string, retry any) {
		e := ErrorPresenter(ctx, Classify(err))
		return e.Extensions["code"].(string), e.Extensions["retryAfterSeconds"]
	}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("insert: %w", pgErr("53100")), "UNAVAILABLE"}, // disk full
		{fmt.Errorf("select: %w", pgErr("57014")), "UNAVAILABLE"}, // statement_timeout
		{fmt.Errorf("select: %w", pgErr("42703")), "INTERNAL"},    // undefined column: a bug
	} {
		if code, retry := present(base, tc.err); code != tc.want || (tc.want == "UNAVAILABLE" && retry != 1) {
			t.Errorf("%v: code %s retryAfterSeconds %v, want %s", tc.err, code, retry, tc.want)
		}
	}
	if !strings.Contains(log.String(), "internal error") {
		t.Errorf("the bug was not logged as an internal error: %s", log.String())
	}

	log.Reset()
	gone, cancel := context.WithCancel(base)
	cancel()
	// What lib/pq answers when the statement of a request whose client left is canceled.
	if code, _ := present(gone, fmt.Errorf("select: %w", errors.New("pq: canceling statement due to user request"))); code != string(errs.Unavailable) {
		t.Errorf("client gone: code %s", code)
	}
	if strings.Contains(log.String(), "internal error") {
		t.Errorf("a client that hung up was logged as an internal error: %s", log.String())
	}
}

// TestPresenterRetryAfterWholeSeconds: retryAfterSeconds is the wait rounded up to whole
// seconds and at least 1, like the Retry-After header, even for a wait of a millisecond.
func TestPresenterRetryAfterWholeSeconds(t *testing.T) {
	for _, tc := range []struct {
		wait time.Duration
		want int
	}{{time.Millisecond, 1}, {500 * time.Microsecond, 1}, {time.Second, 1}, {1001 * time.Millisecond, 2}, {90 * time.Second, 90}} {
		e := ErrorPresenter(context.Background(), &errs.Error{Kind: errs.RateLimited, Message: "slow down", RetryAfter: tc.wait})
		if got := e.Extensions["retryAfterSeconds"]; got != tc.want {
			t.Errorf("wait %s: retryAfterSeconds %v, want %d", tc.wait, got, tc.want)
		}
	}
}
