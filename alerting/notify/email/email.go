// Package email delivers notifications over SMTP with go-mail, trying the
// configured relays in order: a relay that refuses, times out or answers
// 4xx/5xx hands the message to the next one.
package email

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	mail "github.com/wneessen/go-mail"

	"github.com/vedetta-dc/vedetta/alerting/notify"
	"github.com/vedetta-dc/vedetta/internal/config"
)

type relay struct {
	name   string // host:port, for logs and the delivery ledger
	client *mail.Client
}

// Notifier sends e-mail through an ordered list of relays.
type Notifier struct {
	from   string
	relays []relay
	log    *slog.Logger
	// OnAttempt is told about every relay attempt (for metrics).
	OnAttempt func(relay string, err error)
}

// New builds the notifier; it does not connect.
func New(cfg *config.Email, baseDir string, log *slog.Logger) (*Notifier, error) {
	n := &Notifier{from: cfg.From, log: log}
	for i, r := range cfg.Relays {
		opts := []mail.Option{
			mail.WithPort(r.Port),
			mail.WithTimeout(r.Timeout),
			mail.WithHELO(helo()),
		}
		tc := &tls.Config{ServerName: r.Host, MinVersion: tls.VersionTLS12, InsecureSkipVerify: r.InsecureSkipVerify} //nolint:gosec // opt-in per relay
		if r.CAFile != "" {
			p := r.CAFile
			if !filepath.IsAbs(p) {
				p = filepath.Join(baseDir, p)
			}
			pem, err := os.ReadFile(p)
			if err != nil {
				return nil, fmt.Errorf("notify.email.relays[%d].ca_file: %w", i, err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("notify.email.relays[%d].ca_file: no certificate in %s", i, p)
			}
			tc.RootCAs = pool
		}
		opts = append(opts, mail.WithTLSConfig(tc))
		switch r.TLS {
		case "tls":
			opts = append(opts, mail.WithSSL())
		case "starttls":
			opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
		case "opportunistic":
			opts = append(opts, mail.WithTLSPolicy(mail.TLSOpportunistic))
		default:
			opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
		}
		if r.Username != "" {
			opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover),
				mail.WithUsername(r.Username), mail.WithPassword(r.Password.Reveal()))
		}
		c, err := mail.NewClient(r.Host, opts...)
		if err != nil {
			return nil, fmt.Errorf("notify.email.relays[%d]: %w", i, err)
		}
		n.relays = append(n.relays, relay{name: r.Addr(), client: c})
	}
	return n, nil
}

func helo() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "vedetta"
	}
	return h
}

// Notify tries each relay in order until one accepts the message. All
// relays failing is temporary unless every one of them refused the message
// permanently (5xx): then retrying would only repeat the refusal.
func (n *Notifier) Notify(ctx context.Context, m notify.Message) (string, error) {
	msg, err := n.build(m)
	if err != nil {
		return "", notify.Permanent(err)
	}
	var errs []error
	allPermanent := true
	for _, r := range n.relays {
		if ctx.Err() != nil {
			errs = append(errs, ctx.Err())
			allPermanent = false
			break
		}
		err := r.client.DialAndSendWithContext(ctx, msg)
		if n.OnAttempt != nil {
			n.OnAttempt(r.name, err)
		}
		if err == nil {
			return r.name, nil
		}
		perm := permanent(err)
		allPermanent = allPermanent && perm
		n.log.Warn("SMTP relay failed, trying the next", "relay", r.name, "permanent", perm, "err", err, "key", m.Key)
		errs = append(errs, fmt.Errorf("%s: %w", r.name, err))
	}
	err = errors.Join(errs...)
	if allPermanent {
		return "", notify.Permanent(err)
	}
	return "", notify.Temporary(err)
}

// permanent: an SMTP 5xx reply. Dial and TLS errors, timeouts and 4xx are
// temporary.
func permanent(err error) bool {
	var se *mail.SendError
	if errors.As(err, &se) {
		return se.ErrorCode() >= 500 && se.ErrorCode() < 600
	}
	return false
}

func (n *Notifier) build(m notify.Message) (*mail.Msg, error) {
	msg := mail.NewMsg()
	if err := msg.From(n.from); err != nil {
		return nil, fmt.Errorf("from %q: %w", n.from, err)
	}
	if err := msg.To(m.Recipient); err != nil {
		return nil, fmt.Errorf("to %q: %w", m.Recipient, err)
	}
	msg.Subject(m.Subject)
	msg.SetBodyString(mail.TypeTextPlain, m.Body)
	// The idempotency key as Message-ID lets a receiving system drop a
	// duplicate sent across a crash.
	msg.SetMessageIDWithValue(messageID(m.Key))
	msg.SetDateWithValue(time.Now())
	msg.SetUserAgent("vedetta")
	msg.SetGenHeader("X-Vedetta-Alarm", m.AlarmID)
	msg.SetGenHeader("X-Vedetta-Event", m.Event)
	if m.Severity == "critical" && m.Event == "firing" {
		msg.SetImportance(mail.ImportanceUrgent)
	}
	return msg, nil
}

func messageID(key string) string {
	clean := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' {
			return r
		}
		return '.'
	}, key)
	return clean + "@vedetta"
}
