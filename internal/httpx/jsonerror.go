package httpx

import (
	"encoding/json"
	"net/http"

	"github.com/laatu/laatu/internal/errs"
)

// JSONContentType is the media type of every JSON answer: with its charset, so that no client
// guesses another encoding.
const JSONContentType = "application/json; charset=utf-8"

// errorBody is the GraphQL-shaped error document the edge answers with, so clients parse
// one error format whether a request failed at the edge or in a resolver.
type errorBody struct {
	Errors []errorEntry `json:"errors"`
}

type errorEntry struct {
	Message    string          `json:"message"`
	Extensions errorExtensions `json:"extensions"`
}

type errorExtensions struct {
	Code errs.Kind `json:"code"`
}

// WriteJSONError answers with status and the body
// {"errors":[{"message":message,"extensions":{"code":code}}]}. message must be safe to show
// to the client.
func WriteJSONError(w http.ResponseWriter, status int, code errs.Kind, message string) {
	body, err := json.Marshal(errorBody{Errors: []errorEntry{{
		Message:    message,
		Extensions: errorExtensions{Code: code},
	}}})
	if err != nil {
		// Marshalling strings cannot fail; keep the status whatever happens.
		body = []byte(`{"errors":[{"message":"internal server error","extensions":{"code":"INTERNAL"}}]}`)
	}
	h := w.Header()
	h.Set("Content-Type", JSONContentType)
	h.Set("Cache-Control", "no-store")
	// The handler may have set these for the response it meant to send.
	h.Del("Content-Length")
	h.Del("Content-Encoding")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
