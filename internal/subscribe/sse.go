package subscribe

import (
	"net/http"
	"time"
)

// sseWriter bounds every write of an SSE response in time. The server has no write timeout
// (it would cut streams), so without this a client that stops reading would hold its
// subscription, and the memory behind it, for as long as TCP keeps the connection. A write
// that fails ends the connection's context, and with it the stream.
type sseWriter struct {
	http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	fail    func(error)
}

func newSSEWriter(w http.ResponseWriter, timeout time.Duration, fail func(error)) *sseWriter {
	return &sseWriter{ResponseWriter: w, rc: http.NewResponseController(w), timeout: timeout, fail: fail}
}

func (w *sseWriter) Write(b []byte) (int, error) {
	w.deadlines()
	n, err := w.ResponseWriter.Write(b)
	if err != nil {
		w.fail(err)
	}
	return n, err
}

// Flush implements http.Flusher, which gqlgen's SSE transport requires.
func (w *sseWriter) Flush() {
	w.deadlines()
	if err := w.rc.Flush(); err != nil {
		w.fail(err)
	}
}

func (w *sseWriter) deadlines() { _ = w.rc.SetWriteDeadline(time.Now().Add(w.timeout)) }

// Unwrap gives http.ResponseController the writer beneath.
func (w *sseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// reset clears the deadline, which would otherwise outlive the response on a kept-alive
// connection.
func (w *sseWriter) reset() { _ = w.rc.SetWriteDeadline(time.Time{}) }
