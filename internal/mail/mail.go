// Package mail delivers the outbox: mail is first written to the outbox table in the same
// transaction as what it announces, then sent from there, so none is lost while the mail
// server is down; failed deliveries are retried with growing delays.
package mail

import (
	"context"
	"fmt"
	"net/smtp"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/laatu/laatu/internal/storage"
)

// Transport delivers one mail.
type Transport interface {
	Send(ctx context.Context, m *storage.OutboxEmail) error
}

// SMTP delivers through an SMTP server with PLAIN authentication when a user is set.
type SMTP struct {
	Addr, From, User, Password string
}

// Send delivers m.
func (s SMTP) Send(_ context.Context, m *storage.OutboxEmail) error {
	var a smtp.Auth
	if s.User != "" {
		host := s.Addr
		if i := strings.LastIndexByte(host, ':'); i > 0 {
			host = host[:i]
		}
		a = smtp.PlainAuth("", s.User, s.Password, host)
	}
	from := s.From
	if i := strings.IndexByte(from, '<'); i >= 0 {
		from = strings.Trim(from[i:], "<>")
	}
	msg := "From: " + s.From + "\r\nTo: " + m.Recipient + "\r\nSubject: " + m.Subject +
		"\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + strings.ReplaceAll(m.Body, "\n", "\r\n")
	return smtp.SendMail(s.Addr, a, from, []string{m.Recipient}, []byte(msg))
}

// Log "delivers" by writing the mail to the log: dev mode only, so that a developer can follow
// invitation and reset links without a mail server. The links carry tokens: never in prod.
type Log struct{ Logger zerolog.Logger }

// Send logs m.
func (l Log) Send(_ context.Context, m *storage.OutboxEmail) error {
	l.Logger.Info().Str("to", m.Recipient).Str("subject", m.Subject).Msg("mail (dev mode, not sent):\n" + m.Body)
	return nil
}

// Sender polls the outbox and delivers what is due.
type Sender struct {
	Store     *storage.Store
	Transport Transport
	Logger    zerolog.Logger
	// Every is the polling interval.
	Every time.Duration
}

// Run delivers mail until ctx ends.
func (s *Sender) Run(ctx context.Context) {
	t := time.NewTicker(s.Every)
	defer t.Stop()
	for {
		if err := s.Deliver(ctx); err != nil && ctx.Err() == nil {
			s.Logger.Error().Err(err).Msg("outbox")
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Deliver sends every mail that is due, once.
func (s *Sender) Deliver(ctx context.Context) error {
	pending, err := s.Store.PendingMail(ctx, 50)
	if err != nil {
		return err
	}
	for _, m := range pending {
		if err := s.Transport.Send(ctx, m); err != nil {
			retry := time.Duration(1<<min(m.Attempts, 10)) * time.Minute
			if ferr := s.Store.MailFailed(ctx, m.ID, truncate(err.Error(), 500), s.Store.Now().Add(retry)); ferr != nil {
				return ferr
			}
			s.Logger.Warn().Err(err).Str("mail_id", m.ID).Dur("retry_in", retry).Msg("mail delivery failed")
			continue
		}
		if err := s.Store.MailSent(ctx, m.ID); err != nil {
			return fmt.Errorf("mark mail sent: %w", err)
		}
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
