package metrics

import (
	"fmt"
	"strings"
	"testing"
)

// TestOperationLabelsBounded: past MaxOperationNames distinct names, new names share "other";
// names already seen keep their series, long names never get one, unnamed ones are "anonymous".
func TestOperationLabelsBounded(t *testing.T) {
	m := New()
	for i := range MaxOperationNames {
		if got := m.operationLabel(fmt.Sprintf("Op%d", i)); got != fmt.Sprintf("Op%d", i) {
			t.Fatalf("name %d: label %q", i, got)
		}
	}
	for name, want := range map[string]string{
		"Op0": "Op0", "OneTooMany": Other, "": Anonymous, strings.Repeat("x", maxNameLen+1): Other,
	} {
		if got := m.operationLabel(name); got != want {
			t.Errorf("label of %.20q: %q, want %q", name, got, want)
		}
	}
}
