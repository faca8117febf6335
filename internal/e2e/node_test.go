package e2e

import (
	"testing"

	"github.com/laatu/laatu/internal/testserver"
)

// TestNodeKinds: node(id:) finds every kind of Node the caller may see — comments, companies,
// itself and fellow members — and answers anyone else's user id like an unknown id.
func TestNodeKinds(t *testing.T) {
	s := testserver.New(t)
	manager := s.Login(t, "manager@acme.test")
	var ids struct {
		Viewer    struct{ User struct{ ID string } }
		Documents struct {
			Nodes []struct {
				Company  struct{ ID string }
				Comments struct{ Nodes []struct{ ID string } }
			}
		}
		Members struct {
			Edges []struct {
				Node struct{ User struct{ ID string } }
			}
		}
	}
	testserver.MustOK(t, s.Do(t, testserver.Request{Token: manager, Query: `{ viewer { user { id } }
		documents(first: 20) { nodes { company { id } comments { nodes { id } } } }
		members { edges { node { user { id } } } } }`}, &ids))
	var comment string
	for _, d := range ids.Documents.Nodes {
		if len(d.Comments.Nodes) > 0 {
			comment = d.Comments.Nodes[0].ID
		}
	}
	betaAdmin := s.Login(t, "admin@beta.test")
	var beta struct {
		Viewer struct{ User struct{ ID string } }
	}
	testserver.MustOK(t, s.Do(t, testserver.Request{Token: betaAdmin, Query: `{ viewer { user { id } } }`}, &beta))

	node := func(id string) (string, []string) {
		var out struct {
			Node *struct {
				Typename string `json:"__typename"`
			}
		}
		res := s.Do(t, testserver.Request{Token: manager, Query: `query($id: ID!) { node(id: $id) { __typename } }`,
			Variables: map[string]any{"id": id}}, &out)
		if out.Node == nil {
			return "", res.Codes()
		}
		return out.Node.Typename, res.Codes()
	}
	for _, tc := range []struct{ name, id, want string }{
		{"comment", comment, "Comment"},
		{"company", ids.Documents.Nodes[0].Company.ID, "Company"},
		{"self", ids.Viewer.User.ID, "User"},
		{"colleague", ids.Members.Edges[0].Node.User.ID, "User"},
	} {
		if got, codes := node(tc.id); got != tc.want {
			t.Errorf("node(%s) = %q %v, want %s", tc.name, got, codes, tc.want)
		}
	}
	if got, codes := node(beta.Viewer.User.ID); got != "" || len(codes) != 1 || codes[0] != "NOT_FOUND" {
		t.Errorf("node(user of another company) = %q %v, want NOT_FOUND", got, codes)
	}
}

// TestEveryConnectionHasNodes: each connection offers its page's nodes beside its edges, in
// the same order (the members list had only edges).
func TestEveryConnectionHasNodes(t *testing.T) {
	s := testserver.New(t)
	admin := s.Login(t, "admin@acme.test")
	var data struct {
		Members struct {
			Edges []struct {
				Node struct{ User struct{ ID string } }
			}
			Nodes []struct{ User struct{ ID string } }
		}
	}
	testserver.MustOK(t, s.Do(t, testserver.Request{Token: admin,
		Query: `{ members(first: 10) { edges { node { user { id } } } nodes { user { id } } } }`}, &data))
	m := data.Members
	if len(m.Nodes) == 0 || len(m.Nodes) != len(m.Edges) {
		t.Fatalf("members: %d nodes for %d edges", len(m.Nodes), len(m.Edges))
	}
	for i := range m.Nodes {
		if m.Nodes[i].User.ID != m.Edges[i].Node.User.ID {
			t.Errorf("members node %d is %s, its edge %s", i, m.Nodes[i].User.ID, m.Edges[i].Node.User.ID)
		}
	}
}
