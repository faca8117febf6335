package api

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"net/http"

	"github.com/99designs/gqlgen/graphql"

	"github.com/laatu/laatu/internal/errs"
	"github.com/laatu/laatu/internal/httpx"
)

// specHTTP wraps gqlgen's GET and POST transports with what the GraphQL-over-HTTP spec asks
// and gqlgen does not do (checked by graphql-http's audit, bench/conformance):
//   - a POST whose body names no query answers 400: its parameters are invalid;
//   - for a client accepting application/json, a document that does not parse or validate,
//     or variables that do not coerce, answer 200 (gqlgen: 422), with the errors;
//   - for a client accepting application/graphql-response+json, such a request error (4xx)
//     has no "data" entry at all (gqlgen writes "data": null), so that it reads as a
//     request error and not as a failed execution.
type specHTTP struct{ graphql.Transport }

func (t specHTTP) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	if r.Method == http.MethodPost && !namesQuery(r) {
		httpx.WriteJSONError(w, http.StatusBadRequest, errs.BadUserInput, `the request body must be a JSON object with a "query" string`)
		return
	}
	t.Transport.Do(&specWriter{ResponseWriter: w}, r, exec)
}

// namesQuery reports whether a POST body is a JSON object with a non-empty "query" string,
// or is not JSON at all (gqlgen answers that with its own 400). readBody has made the body
// rereadable.
func namesQuery(r *http.Request) bool {
	body, err := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return true
	}
	var params struct {
		Query any `json:"query"`
	}
	if json.Unmarshal(body, &params) != nil {
		return true
	}
	q, ok := params.Query.(string)
	return ok && q != ""
}

// specWriter adjusts the status and body gqlgen's transport writes, as specHTTP describes.
type specWriter struct {
	http.ResponseWriter
	requestError bool
}

func (s *specWriter) WriteHeader(code int) {
	mt, _, _ := mime.ParseMediaType(s.Header().Get("Content-Type"))
	switch {
	case mt == "application/json" && code == http.StatusUnprocessableEntity:
		code = http.StatusOK
	case mt == "application/graphql-response+json" && code >= 400:
		s.requestError = true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *specWriter) Write(b []byte) (int, error) {
	if !s.requestError {
		return s.ResponseWriter.Write(b)
	}
	var resp map[string]json.RawMessage
	if err := json.Unmarshal(b, &resp); err != nil || string(resp["data"]) != "null" {
		return s.ResponseWriter.Write(b)
	}
	delete(resp, "data")
	out, err := json.Marshal(resp)
	if err != nil {
		return s.ResponseWriter.Write(b)
	}
	if _, err := s.ResponseWriter.Write(out); err != nil {
		return 0, err
	}
	return len(b), nil
}
