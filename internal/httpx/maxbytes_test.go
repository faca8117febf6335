package httpx

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

const tooLargeBody = `{"errors":[{"message":"request body too large","extensions":{"code":"BAD_USER_INPUT"}}]}`

// readingHandler reads the body the way the GraphQL layer should: answer 413 on overflow.
func readingHandler(got *string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if IsBodyTooLarge(err) {
			WriteBodyTooLarge(w)
			return
		}
		if err != nil {
			http.Error(w, "read", http.StatusInternalServerError)
			return
		}
		*got = string(b)
	})
}

func TestMaxBytes(t *testing.T) {
	tests := []struct {
		name       string
		body       string
		unknownLen bool // chunked: no Content-Length to refuse up front
		wantStatus int
	}{
		{name: "within limit", body: strings.Repeat("a", 10), wantStatus: 200},
		{name: "declared too long", body: strings.Repeat("a", 11), wantStatus: 413},
		{name: "chunked within limit", body: strings.Repeat("a", 10), unknownLen: true, wantStatus: 200},
		{name: "chunked too long", body: strings.Repeat("a", 11), unknownLen: true, wantStatus: 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got string
			h := MaxBytes(10)(readingHandler(&got))
			r := httptest.NewRequest("POST", "/graphql", strings.NewReader(tt.body))
			if tt.unknownLen {
				r.ContentLength = -1
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d", rec.Code, tt.wantStatus)
			}
			if tt.wantStatus == 413 {
				if rec.Body.String() != tooLargeBody {
					t.Errorf("body = %s", rec.Body.String())
				}
				return
			}
			if got != tt.body {
				t.Errorf("handler read %q", got)
			}
		})
	}
}

func TestMaxBytesServer(t *testing.T) {
	var got string
	srv := httptest.NewServer(Chain(readingHandler(&got), AccessLog(discardLogger()), Recover, MaxBytes(1024)))
	defer srv.Close()
	// An io.Reader that is not a *strings.Reader makes the client send chunked.
	body := io.MultiReader(strings.NewReader(strings.Repeat("x", 4096)))
	resp, err := srv.Client().Post(srv.URL+"/graphql", "application/json", body)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 413 || string(b) != tooLargeBody {
		t.Errorf("got %d %s", resp.StatusCode, b)
	}
}

func TestIsBodyTooLarge(t *testing.T) {
	if !IsBodyTooLarge(fmt.Errorf("read body: %w", &http.MaxBytesError{Limit: 1})) {
		t.Error("wrapped *http.MaxBytesError not detected")
	}
	for _, err := range []error{nil, io.ErrUnexpectedEOF, errors.New("http: request body too large")} {
		if IsBodyTooLarge(err) {
			t.Errorf("IsBodyTooLarge(%v) = true", err)
		}
	}
}

func TestInnermost(t *testing.T) {
	rec := httptest.NewRecorder()
	w := wrapWriter(&responseWriter{ResponseWriter: rec})
	if innermost(w) != http.ResponseWriter(rec) {
		t.Error("innermost did not unwrap to the base writer")
	}
}
