// Package mail delivers the outbox: mail is first written to the outbox table in the same
// transaction as what it announces, then sent from there, so none is lost while the mail
// server is down; failed deliveries are retried with growing delays.
package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
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
	// TLS is when STARTTLS is used: TLSRequired (also the zero value), TLSIfOffered or TLSOff.
	TLS string
}

// The SMTP TLS policies (--smtp-tls).
const (
	// TLSRequired sends only over STARTTLS, verifying the server's certificate for its name;
	// a server that does not offer STARTTLS gets no mail.
	TLSRequired = "required"
	// TLSIfOffered uses STARTTLS when the server offers it, else sends in plain text.
	TLSIfOffered = "starttls-if-offered"
	// TLSOff never uses STARTTLS: for a relay on the same host only.
	TLSOff = "off"
)

// ErrNoSTARTTLS is returned when TLS is required and the server does not offer STARTTLS.
var ErrNoSTARTTLS = errors.New("the SMTP server does not offer STARTTLS and --smtp-tls is required: mail is not sent in plain text")

// Send delivers m.
func (s SMTP) Send(ctx context.Context, m *storage.OutboxEmail) error {
	host := s.Addr
	if i := strings.LastIndexByte(host, ':'); i > 0 {
		host = host[:i]
	}
	conn, err := (&net.Dialer{Timeout: 30 * time.Second}).DialContext(ctx, "tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("smtp: %w", err)
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	} else {
		conn.SetDeadline(time.Now().Add(2 * time.Minute))
	}
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("smtp: %w", err)
	}
	defer c.Close()
	if s.TLS != TLSOff {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(&tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}); err != nil {
				return fmt.Errorf("smtp STARTTLS: %w", err)
			}
		} else if s.TLS != TLSIfOffered {
			return ErrNoSTARTTLS
		}
	}
	if s.User != "" {
		// net/smtp's PlainAuth itself refuses to send the password unencrypted, except to localhost.
		if err := c.Auth(smtp.PlainAuth("", s.User, s.Password, host)); err != nil {
			return fmt.Errorf("smtp auth: %w", err)
		}
	}
	from := s.From
	if i := strings.IndexByte(from, '<'); i >= 0 {
		from = strings.Trim(from[i:], "<>")
	}
	msg := "From: " + s.From + "\r\nTo: " + m.Recipient + "\r\nSubject: " + m.Subject +
		"\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + strings.ReplaceAll(m.Body, "\n", "\r\n")
	if err := c.Mail(from); err != nil { // Mail and Rcpt refuse CR and LF (no header injection)
		return fmt.Errorf("smtp: %w", err)
	}
	if err := c.Rcpt(m.Recipient); err != nil {
		return fmt.Errorf("smtp: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp: %w", err)
	}
	if _, err := w.Write([]byte(msg)); err != nil {
		return fmt.Errorf("smtp: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtp: %w", err)
	}
	return c.Quit()
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
