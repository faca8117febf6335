package httpx

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestHealthz(t *testing.T) {
	rec := httptest.NewRecorder()
	Healthz().ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	if rec.Code != 200 || rec.Body.String() != `{"status":"ok"}` || rec.Header().Get("Content-Type") != "application/json; charset=utf-8" {
		t.Errorf("got %d %s", rec.Code, rec.Body.String())
	}
}

func TestReadyz(t *testing.T) {
	t.Run("ready", func(t *testing.T) {
		var deadline time.Time
		h := Readyz(func(ctx context.Context) error {
			deadline, _ = ctx.Deadline()
			return nil
		})
		start := time.Now()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
		if rec.Code != 200 || rec.Body.String() != `{"status":"ok"}` {
			t.Errorf("got %d %s", rec.Code, rec.Body.String())
		}
		if d := deadline.Sub(start); d < readyTimeout || d > readyTimeout+time.Second {
			t.Errorf("ping deadline %v after the request, want about %v", d, readyTimeout)
		}
	})
	t.Run("ping fails", func(t *testing.T) {
		h := Readyz(func(context.Context) error { return errors.New("dial tcp 10.0.0.5:5432: connection refused") })
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
		if rec.Code != 503 || rec.Body.String() != `{"status":"unavailable"}` {
			t.Errorf("got %d %s", rec.Code, rec.Body.String())
		}
		if strings.Contains(rec.Body.String(), "5432") {
			t.Error("ping error leaked")
		}
	})
	t.Run("ping ignores its deadline", func(t *testing.T) {
		stuck := make(chan struct{})
		defer close(stuck) // lets the abandoned ping return, for goleak
		h := readyz(func(context.Context) error { <-stuck; return nil }, 10*time.Millisecond)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
		if rec.Code != 503 {
			t.Errorf("got %d, want 503 at the deadline", rec.Code)
		}
	})
}
