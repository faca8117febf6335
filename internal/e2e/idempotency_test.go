package e2e

import (
	"sync"
	"testing"

	"github.com/laatu/laatu/internal/testserver"
)

// TestIdempotentMutations: a mutation sent again with its Idempotency-Key gets the first
// answer and changes nothing, also when the two attempts race; the same key with another
// request is a CONFLICT; keys belong to their user; without a key a resend duplicates.
func TestIdempotentMutations(t *testing.T) {
	t.Parallel()
	s := testserver.New(t)
	admin, manager := s.Login(t, "admin@acme.test"), s.Login(t, "manager@acme.test")
	const create = `mutation($n: String!) { createFolder(input: {name: $n}) { id name } }`
	folderCount := func() int {
		var data struct{ Folders struct{ TotalCount int } }
		fOK(t, s, admin, `{ folders { totalCount } }`, nil, &data)
		return data.Folders.TotalCount
	}
	send := func(token, key, name string) (string, *testserver.Response) {
		t.Helper()
		var data struct{ CreateFolder struct{ ID, Name string } }
		res := s.Do(t, testserver.Request{Query: create, Variables: map[string]any{"n": name}, Token: token,
			Headers: map[string]string{"Idempotency-Key": key}}, &data)
		return data.CreateFolder.ID, res
	}
	before := folderCount()

	first, res := send(admin, "k-1", "Once")
	if first == "" || len(res.Errors) > 0 || res.Extensions["idempotentReplay"] != nil {
		t.Fatalf("first attempt: %d %+v %v", res.Status, res.Errors, res.Extensions)
	}
	again, res := send(admin, "k-1", "Once")
	if again != first || res.Extensions["idempotentReplay"] != true {
		t.Errorf("retry: id %q (first %q), extensions %v, errors %+v", again, first, res.Extensions, res.Errors)
	}
	if n := folderCount(); n != before+1 {
		t.Errorf("%d folders after a create and its retry, want %d", n, before+1)
	}

	if _, res := send(admin, "k-1", "Something else"); len(res.Errors) != 1 || res.Errors[0].Code() != "CONFLICT" {
		t.Errorf("the key with another request: %d %+v", res.Status, res.Errors)
	}
	// Another user's key of the same name is its own.
	if other, res := send(manager, "k-1", "Once"); other == "" || other == first || res.Extensions["idempotentReplay"] != nil {
		t.Errorf("another user's k-1: id %q (admin's %q), %v %+v", other, first, res.Extensions, res.Errors)
	}

	// Racing attempts with a fresh key: one folder, one answer.
	ids := make([]string, 4)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids[i], _ = send(admin, "k-race", "Raced")
		}()
	}
	wg.Wait()
	for _, id := range ids {
		if id == "" || id != ids[0] {
			t.Errorf("racing attempts answered %v, want one id", ids)
			break
		}
	}
	if n := folderCount(); n != before+3 {
		t.Errorf("%d folders, want %d (admin's one, manager's one, the raced one)", n, before+3)
	}

	// Without a key, a resend is a second create: what the key is for.
	fOK(t, s, admin, create, map[string]any{"n": "Twice"}, nil)
	fOK(t, s, admin, create, map[string]any{"n": "Twice"}, nil)
	if n := folderCount(); n != before+5 {
		t.Errorf("%d folders, want %d", n, before+5)
	}

	bad := s.Do(t, testserver.Request{Query: create, Variables: map[string]any{"n": "x"}, Token: admin,
		Headers: map[string]string{"Idempotency-Key": "has space"}}, nil)
	if bad.Status != 400 || len(bad.Errors) != 1 || bad.Errors[0].Code() != "BAD_USER_INPUT" {
		t.Errorf("a malformed key: %d %+v", bad.Status, bad.Errors)
	}
}
