// Package email delivers notifications over SMTP with go-mail, trying the
// configured relays in order: a relay that refuses, times out or answers
// 4xx/5xx hands the message to the next one (notify.Failover).
package email

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	mail "github.com/wneessen/go-mail"

	"github.com/vedetta-dc/vedetta/alerting/notify"
	"github.com/vedetta-dc/vedetta/internal/config"
	"github.com/vedetta-dc/vedetta/internal/tlsconf"
)

// Relay is one SMTP server, a notify.Provider.
type Relay struct {
	name   string // host:port, for logs and the delivery ledger
	from   string
	client *mail.Client
}

// New builds the e-mail channel: the relays in order, behind a
// notify.Failover (no retry on one relay: the next relay is the retry). It
// does not connect.
func New(cfg *config.Email, baseDir string, log *slog.Logger) (*notify.Failover, error) {
	relays, err := Relays(cfg, baseDir)
	if err != nil {
		return nil, err
	}
	f := &notify.Failover{Channel: "email", Log: log}
	for _, r := range relays {
		f.Providers = append(f.Providers, r)
	}
	return f, nil
}

// Relays builds one provider per configured relay.
func Relays(cfg *config.Email, baseDir string) ([]*Relay, error) {
	var out []*Relay
	for i, r := range cfg.Relays {
		opts := []mail.Option{
			mail.WithPort(r.Port),
			mail.WithTimeout(r.Timeout),
			mail.WithHELO(helo()),
		}
		tc, err := tlsconf.Client(r.Host, r.CAFile, baseDir, r.InsecureSkipVerify)
		if err != nil {
			return nil, fmt.Errorf("notify.email.relays[%d].ca_file: %w", i, err)
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
		out = append(out, &Relay{name: r.Addr(), from: cfg.From, client: c})
	}
	return out, nil
}

func helo() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "vedetta"
	}
	return h
}

// Name implements notify.Provider.
func (r *Relay) Name() string { return r.name }

// Send implements notify.Provider: SMTP 5xx is permanent for this relay;
// dial and TLS errors, timeouts and 4xx are temporary.
func (r *Relay) Send(ctx context.Context, m notify.Message) error {
	msg, err := build(r.from, m)
	if err != nil {
		return notify.Permanent(err)
	}
	if err := r.client.DialAndSendWithContext(ctx, msg); err != nil {
		if permanent(err) {
			return notify.Permanent(err)
		}
		return notify.Temporary(err)
	}
	return nil
}

// Probe implements notify.Prober: connect, EHLO (and STARTTLS/AUTH as
// configured), then QUIT, without sending.
func (r *Relay) Probe(ctx context.Context) error {
	if err := r.client.DialWithContext(ctx); err != nil {
		return err
	}
	return r.client.Close()
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

func build(from string, m notify.Message) (*mail.Msg, error) {
	msg := mail.NewMsg()
	if err := msg.From(from); err != nil {
		return nil, fmt.Errorf("from %q: %w", from, err)
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
