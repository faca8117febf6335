package storage

import (
	"context"
	"slices"
	"testing"

	"github.com/laatu/laatu/internal/access"
)

// TestBackwardPages: paging a list backward with last/before yields the same items, in the
// same order, as paging it forward, with hasPreviousPage where items come before.
func TestBackwardPages(t *testing.T) {
	w := newScopeWorld(t)
	ctx := access.NewContext(context.Background(), w.adminA)
	for _, sort := range []DocumentSort{DocumentTitleAsc, DocumentUpdatedAtDesc} {
		all, err := w.s.Documents(ctx, DocumentFilter{}, sort, PageArgs{First: 100})
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, d := range all.Items {
			want = append(want, d.ID)
		}
		if len(want) != 5 {
			t.Fatalf("admin of A sees %d documents, want 5", len(want))
		}
		// From the end, two at a time: [3 4], [1 2], [0].
		var got []string
		before, pages := "", 0
		for {
			p, err := w.s.Documents(ctx, DocumentFilter{}, sort, PageArgs{Backward: true, Last: 2, Before: before})
			if err != nil {
				t.Fatal(err)
			}
			pages++
			var ids []string
			for _, d := range p.Items {
				ids = append(ids, d.ID)
			}
			got = append(ids, got...)
			if p.HasNext != (before != "") {
				t.Errorf("%s page %d: hasNextPage %v with before %q", sort, pages, p.HasNext, before)
			}
			if !p.HasPrev {
				break
			}
			if pages > 5 {
				t.Fatalf("%s: paging backward does not end", sort)
			}
			before = p.Cursors[0]
		}
		if !slices.Equal(got, want) || pages != 3 {
			t.Errorf("%s: backward %v in %d pages, forward %v", sort, got, pages, want)
		}
	}
}
