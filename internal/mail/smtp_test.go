package mail

import (
	"bufio"
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/laatu/laatu/internal/storage"
)

// plainSMTP is an SMTP server that offers no STARTTLS; it records the commands it was sent.
func plainSMTP(t *testing.T) (addr string, commands func() []string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var seen []string
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.SetDeadline(time.Now().Add(time.Minute))
			r, w := bufio.NewReader(c), c
			w.Write([]byte("220 test ESMTP\r\n"))
			inData := false
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					break
				}
				line = strings.TrimRight(line, "\r\n")
				if inData {
					if line == "." {
						inData = false
						w.Write([]byte("250 queued\r\n"))
					}
					continue
				}
				mu.Lock()
				seen = append(seen, strings.ToUpper(strings.Fields(line + " x")[0]))
				mu.Unlock()
				switch cmd := strings.ToUpper(strings.Fields(line + " x")[0]); cmd {
				case "EHLO":
					w.Write([]byte("250-test\r\n250 8BITMIME\r\n"))
				case "DATA":
					inData = true
					w.Write([]byte("354 go on\r\n"))
				case "QUIT":
					w.Write([]byte("221 bye\r\n"))
				default:
					w.Write([]byte("250 ok\r\n"))
				}
			}
			c.Close()
		}
	}()
	return l.Addr().String(), func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), seen...) }
}

// TestSMTPTLSPolicy: with --smtp-tls required (the default, also the zero value) a server
// without STARTTLS gets no mail, not even the envelope; starttls-if-offered and off send it
// in plain text.
func TestSMTPTLSPolicy(t *testing.T) {
	m := &storage.OutboxEmail{Recipient: "a@laatu.test", Subject: "hello", Body: "a link"}
	for _, policy := range []string{"", TLSRequired} {
		addr, commands := plainSMTP(t)
		err := SMTP{Addr: addr, From: "Laatu <no-reply@laatu.test>", TLS: policy}.Send(context.Background(), m)
		if !errors.Is(err, ErrNoSTARTTLS) {
			t.Errorf("TLS %q without STARTTLS: %v, want ErrNoSTARTTLS", policy, err)
		}
		for _, c := range commands() {
			if c == "MAIL" || c == "DATA" {
				t.Errorf("TLS %q: %s sent in plain text (%v)", policy, c, commands())
			}
		}
	}
	for _, policy := range []string{TLSIfOffered, TLSOff} {
		addr, commands := plainSMTP(t)
		if err := (SMTP{Addr: addr, From: "Laatu <no-reply@laatu.test>", TLS: policy}).Send(context.Background(), m); err != nil {
			t.Errorf("TLS %q: %v", policy, err)
		}
		if got := strings.Join(commands(), " "); !strings.Contains(got, "MAIL RCPT DATA") {
			t.Errorf("TLS %q: commands %s", policy, got)
		}
	}
}
