package mail_test

import (
	"context"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/laatu/laatu/internal/mail"
	"github.com/laatu/laatu/internal/storage"
	"github.com/laatu/laatu/internal/testdb"
)

type recorder struct{ bodies []string }

func (r *recorder) Send(_ context.Context, m *storage.OutboxEmail) error {
	r.bodies = append(r.bodies, m.Body)
	return nil
}

// TestSentMailKeepsNoToken: the link's token is delivered, then no longer readable in the
// outbox (issue 17 item 8: reset tokens stayed in clear in outbox_emails).
func TestSentMailKeepsNoToken(t *testing.T) {
	db := testdb.New(t)
	s := storage.New(db.App)
	ctx := context.Background()
	const tok = "rst_secret-token-value"
	if err := s.QueueMail(ctx, &storage.OutboxEmail{Recipient: "a@b.test", Subject: "Reset",
		Body: "Reset with this link:\n\nhttps://laatu.test/reset-password#token=" + tok + "\n\nIgnore it otherwise.\n"}); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	sender := &mail.Sender{Store: s, Transport: rec, Logger: zerolog.Nop()}
	if err := sender.Deliver(ctx); err != nil {
		t.Fatal(err)
	}
	if len(rec.bodies) != 1 || !strings.Contains(rec.bodies[0], tok) {
		t.Fatalf("delivered %q", rec.bodies)
	}
	var bodies []string
	if err := db.Owner.NewSelect().Table("outbox_emails").Column("body").Scan(ctx, &bodies); err != nil {
		t.Fatal(err)
	}
	if len(bodies) != 1 || strings.Contains(bodies[0], tok) || !strings.Contains(bodies[0], "Ignore it otherwise.") {
		t.Fatalf("the outbox keeps %q", bodies)
	}
	if more, err := s.PendingMail(ctx, 10); err != nil || len(more) != 0 {
		t.Fatalf("still pending: %v %v", more, err)
	}
}
