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
