package httpx

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// logLines is a zerolog writer that hands each JSON line to the test as it is written, so
// tests against a real server can wait for the access-log line, which is written after the
// client may already have its response.
type logLines chan []byte

func (l logLines) Write(p []byte) (int, error) {
	l <- bytes.Clone(p)
	return len(p), nil
}

// newLogLines returns a logger writing into a buffered logLines.
func newLogLines() (zerolog.Logger, logLines) {
	lines := make(logLines, 64)
	return zerolog.New(lines), lines
}

// next waits for the next log line whose message is msg, skipping others, and returns it
// raw and decoded.
func (l logLines) next(t *testing.T, msg string) (string, map[string]any) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case line := <-l:
			var m map[string]any
			if err := json.Unmarshal(line, &m); err != nil {
				t.Fatalf("log line is not JSON: %q", line)
			}
			if m["message"] == msg {
				return string(line), m
			}
		case <-timeout:
			t.Fatalf("no %q log line within 5s", msg)
		}
	}
}

// decodeLines decodes every JSON line in b.
func decodeLines(t *testing.T, b []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		out = append(out, m)
	}
	return out
}

// findLine returns the first decoded line with message msg.
func findLine(t *testing.T, lines []map[string]any, msg string) map[string]any {
	t.Helper()
	for _, m := range lines {
		if m["message"] == msg {
			return m
		}
	}
	t.Fatalf("no %q log line in %v", msg, lines)
	return nil
}

func discardLogger() zerolog.Logger { return zerolog.Nop() }
