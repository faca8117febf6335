package httpx

import (
	"bufio"
	"net"
	"net/http"
)

// responseWriter records what a handler did with the response (status, bytes, whether the
// connection was hijacked) for the access log and the panic handler, while passing every
// optional capability through: http.Flusher and http.Hijacker explicitly (some libraries
// type-assert for them), the rest through Unwrap and http.ResponseController.
//
// Like the http.ResponseWriter it wraps, it is not safe for concurrent use, and its
// counters are read only after the handler has returned.
type responseWriter struct {
	http.ResponseWriter
	status      int
	bytes       int64
	wroteHeader bool
	hijacked    bool
}

// wrapWriter returns w itself when it already is a *responseWriter, so that AccessLog and
// Recover share one record of the response instead of stacking wrappers.
func wrapWriter(w http.ResponseWriter) *responseWriter {
	if rw, ok := w.(*responseWriter); ok {
		return rw
	}
	return &responseWriter{ResponseWriter: w}
}

func (rw *responseWriter) WriteHeader(code int) {
	// 1xx other than 101 are informational (e.g. 103 Early Hints): the final status follows.
	if !rw.wroteHeader && (code < 100 || code > 199 || code == http.StatusSwitchingProtocols) {
		rw.status = code
		rw.wroteHeader = true
	}
	rw.ResponseWriter.WriteHeader(code)
}

func (rw *responseWriter) Write(b []byte) (int, error) {
	rw.implicitOK()
	n, err := rw.ResponseWriter.Write(b)
	rw.bytes += int64(n)
	return n, err
}

// Flush implements http.Flusher for server-sent events.
func (rw *responseWriter) Flush() {
	_ = rw.FlushError()
}

// FlushError is what http.ResponseController.Flush calls, so flush errors reach it.
func (rw *responseWriter) FlushError() error {
	rw.implicitOK()
	return http.NewResponseController(rw.ResponseWriter).Flush()
}

// Hijack implements http.Hijacker for WebSocket upgrades.
func (rw *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(rw.ResponseWriter).Hijack()
	if err == nil {
		rw.hijacked = true
	}
	return conn, brw, err
}

// Unwrap lets http.ResponseController reach the underlying writer's other capabilities
// (deadlines, full duplex).
func (rw *responseWriter) Unwrap() http.ResponseWriter {
	return rw.ResponseWriter
}

// implicitOK records the 200 that net/http sends when a body is written or flushed
// before any WriteHeader.
func (rw *responseWriter) implicitOK() {
	if !rw.wroteHeader && !rw.hijacked {
		rw.status = http.StatusOK
		rw.wroteHeader = true
	}
}

// statusOrDefault is the status the client saw: 200 when the handler wrote nothing at all.
func (rw *responseWriter) statusOrDefault() int {
	if !rw.wroteHeader && !rw.hijacked {
		return http.StatusOK
	}
	return rw.status
}
