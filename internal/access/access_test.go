package access

import "testing"

func TestMaySign(t *testing.T) {
	yes := SignFacts{Right: View, Signer: true, Open: true}
	if !MaySign(yes) {
		t.Fatal("a listed signer with VIEW on a handed-over document may sign")
	}
	for name, f := range map[string]SignFacts{
		"not a signer":    {Right: Manage, Open: true},
		"no right":        {Right: None, Signer: true, Open: true},
		"not handed over": {Right: View, Signer: true},
		"already signed":  {Right: View, Signer: true, Open: true, Signed: true},
	} {
		if MaySign(f) {
			t.Errorf("%s: MaySign(%+v) = true", name, f)
		}
	}
}

// TestCanShare is the sharing rule as a table: principal × right on the object × level asked.
func TestCanShare(t *testing.T) {
	const co, other = "co", "other"
	member := func(l Level) *Principal {
		return &Principal{UserID: "u", CompanyID: co, Level: l, Memberships: map[string]Level{co: l}}
	}
	// A manager of co acting in another company (X-Company-ID) is only a guest in co.
	elsewhere := &Principal{UserID: "u", CompanyID: other, Level: Admin, Memberships: map[string]Level{co: Manager, other: Admin}}
	guest := &Principal{UserID: "u", Memberships: map[string]Level{}}
	tests := []struct {
		name         string
		p            *Principal
		right, level Right
		want         bool
	}{
		{"nobody shares what it cannot view", member(Admin), None, View, false},
		{"ADMIN (MANAGE) up to MANAGE", member(Admin), Manage, Manage, true},
		{"MANAGER with EDIT up to MANAGE", member(Manager), Edit, Manage, true},
		{"MANAGER with only VIEW (restricted, VIEW grant)", member(Manager), View, View, false},
		{"MEMBER with EDIT (its own document is MANAGE)", member(Member), Edit, View, false},
		{"MEMBER holding MANAGE by grant", member(Member), Manage, Manage, true},
		{"guest with MANAGE re-shares", guest, Manage, Edit, true},
		{"guest with EDIT", guest, Edit, View, false},
		{"manager of the company acting elsewhere, EDIT by grant", elsewhere, Edit, View, false},
		{"not a level", member(Admin), Manage, None, false},
		{"system", systemPrincipal(), Manage, Manage, true},
	}
	for _, tt := range tests {
		if got := CanShare(tt.p, co, tt.right, tt.level); got != tt.want {
			t.Errorf("%s: CanShare = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// systemPrincipal is the principal AsSystem puts in a context.
func systemPrincipal() *Principal { return &Principal{system: true, Level: Admin} }
