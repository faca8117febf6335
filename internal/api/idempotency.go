package api

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"net/http"

	"github.com/99designs/gqlgen/graphql"

	"github.com/laatu/laatu/internal/access"
	"github.com/laatu/laatu/internal/errs"
	"github.com/laatu/laatu/internal/httpx"
	"github.com/laatu/laatu/internal/storage"
)

// IdempotencyHeader carries a client's key for a mutation: a retry with the same key gets the
// first answer back and changes nothing (see storage.ClaimIdempotencyKey). A header rather
// than a clientMutationId field: one key covers the whole request (every mutation field in
// it, in its one transaction), it works for every mutation without changing any input type,
// and it is what HTTP clients and the IETF draft already know.
const IdempotencyHeader = "Idempotency-Key"

type idempotencyKey struct{}

// withIdempotencyKey puts the request's key in its context, refusing a malformed one.
func withIdempotencyKey(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get(IdempotencyHeader)
		// A stream's upgrade request would give one key to every operation on the socket.
		if key == "" || isStream(r) {
			next.ServeHTTP(w, r)
			return
		}
		if len(key) > 255 || !printable(key) {
			httpx.WriteJSONError(w, http.StatusBadRequest, errs.BadUserInput, "Idempotency-Key must be 1 to 255 printable ASCII characters")
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), idempotencyKey{}, key)))
	})
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// keyOf returns the idempotency key that applies to the operation in ctx: a mutation of a
// logged-in caller. Anonymous mutations (login, acceptInvitation, ...) answer with a session
// token, which is never stored, so their key is ignored.
func keyOf(ctx context.Context, mutation bool) string {
	key, _ := ctx.Value(idempotencyKey{}).(string)
	if p := access.FromContext(ctx); !mutation || p == nil || p.UserID == "" {
		return ""
	}
	return key
}

// requestHash identifies what a key was sent with: the active company, the operation name,
// the query and the variables (encoding/json sorts map keys, so equal variables hash alike).
func requestHash(ctx context.Context, oc *graphql.OperationContext) []byte {
	vars, _ := json.Marshal(oc.Variables)
	h := sha256.New()
	for _, part := range [][]byte{[]byte(access.FromContext(ctx).CompanyID), []byte(oc.OperationName), []byte(oc.RawQuery), vars} {
		_ = json.NewEncoder(h).Encode(string(part)) // length-safe separation of the parts
	}
	return h.Sum(nil)
}

// claim looks the key up in the operation's transaction: the stored answer to replay, or nil
// to run the mutation.
func claim(ctx context.Context, store *storage.Store, key string) (*graphql.Response, error) {
	stored, err := store.ClaimIdempotencyKey(ctx, key, requestHash(ctx, graphql.GetOperationContext(ctx)))
	if err != nil || stored == nil {
		return nil, err
	}
	var resp graphql.Response
	if err := json.Unmarshal(stored, &resp); err != nil {
		return nil, err
	}
	if resp.Extensions == nil {
		resp.Extensions = map[string]any{}
	}
	resp.Extensions["idempotentReplay"] = true
	return &resp, nil
}

// save stores the answer under key, in the transaction about to commit.
func save(ctx context.Context, store *storage.Store, key string, resp *graphql.Response) error {
	if resp == nil {
		return nil
	}
	b, err := json.Marshal(resp)
	if err != nil {
		return err
	}
	return store.SaveIdempotentResponse(ctx, key, b)
}
