// Package email delivers notifications over SMTP with go-mail, trying the
// configured relays in order: a relay that refuses, times out or answers
// 4xx/5xx hands the message to the next one (notify.Failover).
package email

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	mail "github.com/wneessen/go-mail"

	"github.com/vedetta-dc/vedetta/internal/config"
	"github.com/vedetta-dc/vedetta/internal/tlsconf"
	"github.com/vedetta-dc/vedetta/notify"
)

// Relay is one SMTP server, a notify.Provider.
//
// Every attempt (Send or Probe) is bounded, end to end, by the caller's
// context and by the relay's own timeout: dial, TLS handshake, greeting,
// EHLO, STARTTLS, AUTH, every command, DATA and QUIT. go-mail (v0.8.1)
// uses the context only for the TCP dial; after it, it relies on
// connection deadlines of its own (WithTimeout, re-armed per phase), so a
// relay that accepts TCP and never greets, or stalls after DATA, held a
// send past a cancelled context (shutdown) and for one deadline per phase.
// We chose a watchdog over replacing go-mail with net/smtp: our dialer
// (go-mail's WithDialContextFunc) keeps the raw connection, and
// context.AfterFunc closes it the moment the attempt's context ends, which
// fails whatever read or write go-mail is blocked in. go-mail's own
// deadlines stay, a second later, as a second line. Each attempt
// builds its own go-mail client (cheap: options only), so concurrent sends
// and probes share no connection state.
type Relay struct {
	name    string // host:port, for logs and the delivery ledger
	from    string
	host    string
	timeout time.Duration // bounds one whole attempt
	opts    []mail.Option // everything but the dialer
	// implicitTLS is the TLS config of a `tls: tls` relay: our dialer does
	// the handshake (go-mail does it only with its own dialer).
	implicitTLS *tls.Config
}

// defaultTimeout is used by callers that bypass the config defaults.
const defaultTimeout = 10 * time.Second

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
		timeout := r.Timeout
		if timeout == 0 {
			timeout = defaultTimeout
		}
		opts := []mail.Option{
			mail.WithPort(r.Port),
			// go-mail's deadlines are the backstop: a little later than
			// the attempt's, so that the error a timeout gives names the
			// relay timeout rather than an "i/o timeout" of one phase.
			mail.WithTimeout(timeout + time.Second),
			mail.WithHELO(helo()),
		}
		tc, err := tlsconf.Client(r.Host, r.CAFile, baseDir, r.InsecureSkipVerify)
		if err != nil {
			return nil, fmt.Errorf("notify.email.relays[%d].ca_file: %w", i, err)
		}
		opts = append(opts, mail.WithTLSConfig(tc))
		var implicit *tls.Config
		switch r.TLS {
		case "tls":
			// Not mail.WithSSL: with a custom dialer go-mail neither
			// handshakes nor counts the session as encrypted. Our dialer
			// returns a *tls.Conn, and the opportunistic policy makes
			// go-mail read its state (encrypted, so AUTH PLAIN/LOGIN are
			// allowed); a server does not offer STARTTLS inside TLS
			// (RFC 3207 §4.2), so none is attempted.
			implicit = tc
			opts = append(opts, mail.WithTLSPolicy(mail.TLSOpportunistic))
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
		// Build one client now so that a bad option fails at start-up,
		// not at the first alarm.
		if _, err := mail.NewClient(r.Host, opts...); err != nil {
			return nil, fmt.Errorf("notify.email.relays[%d]: %w", i, err)
		}
		out = append(out, &Relay{name: r.Addr(), from: cfg.From, host: r.Host, timeout: timeout,
			opts: opts, implicitTLS: implicit})
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
// dial and TLS errors, timeouts, a cancelled context and 4xx are
// temporary.
func (r *Relay) Send(ctx context.Context, m notify.Message) error {
	msg, err := build(r.from, m)
	if err != nil {
		return notify.Permanent(err)
	}
	err = r.attempt(ctx, func(ctx context.Context, c *mail.Client) error {
		sc, err := c.DialToSMTPClientWithContext(ctx)
		if err != nil {
			return fmt.Errorf("dial failed: %w", err)
		}
		if err := c.SendWithSMTPClient(sc, msg); err != nil {
			return fmt.Errorf("send failed: %w", err)
		}
		// The relay took the message with its reply to DATA; a QUIT that
		// fails now (or the deadline passing) must not make us send it
		// again. The watchdog closes the connection either way.
		_ = c.CloseWithSMTPClient(sc)
		return nil
	})
	if err != nil {
		if permanent(err) {
			return notify.Permanent(err)
		}
		return notify.Temporary(err)
	}
	return nil
}

// Probe implements notify.Prober: connect, EHLO (and STARTTLS/AUTH as
// configured), then QUIT, without sending; bounded like Send.
func (r *Relay) Probe(ctx context.Context) error {
	return r.attempt(ctx, func(ctx context.Context, c *mail.Client) error {
		sc, err := c.DialToSMTPClientWithContext(ctx)
		if err != nil {
			return err
		}
		return c.CloseWithSMTPClient(sc)
	})
}

// attempt runs one SMTP session on a fresh go-mail client whose
// connections are closed as soon as ctx ends or the relay's timeout
// passes, and in any case when attempt returns (go-mail leaves the
// connection open when EHLO, STARTTLS or AUTH fails).
func (r *Relay) attempt(ctx context.Context, session func(context.Context, *mail.Client) error) error {
	ctx, cancel := context.WithTimeoutCause(ctx, r.timeout,
		fmt.Errorf("no complete SMTP exchange within the relay timeout (%v): %w", r.timeout, context.DeadlineExceeded))
	defer cancel()
	w := &watchdog{ctx: ctx, tls: r.implicitTLS}
	defer w.release()
	c, err := mail.NewClient(r.host, append(slices.Clip(r.opts), mail.WithDialContextFunc(w.dial))...)
	if err != nil {
		return err
	}
	err = session(ctx, c)
	if err != nil && ctx.Err() != nil {
		// go-mail only saw its connection closed; say why.
		err = fmt.Errorf("%w; %w", context.Cause(ctx), err)
	}
	return err
}

// watchdog dials for go-mail and closes what it dialled when its context
// ends.
type watchdog struct {
	ctx context.Context
	tls *tls.Config // non-nil: implicit TLS

	mu    sync.Mutex
	conns []net.Conn
	stops []func() bool
}

// dial is a mail.DialContextFunc. ctx is go-mail's dial context (ours plus
// its connect timeout); w.ctx is the whole attempt's.
func (w *watchdog) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	w.conns = append(w.conns, conn)
	w.stops = append(w.stops, context.AfterFunc(w.ctx, func() { _ = conn.Close() }))
	w.mu.Unlock()
	if w.tls == nil {
		return conn, nil
	}
	tc := tls.Client(conn, w.tls)
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = conn.Close()
		return nil, err
	}
	// The *tls.Conn itself, not a wrapper: go-mail's smtp client decides
	// from its type that the session is encrypted.
	return tc, nil
}

// release stops the watchdogs and closes every connection (a second Close
// is harmless).
func (w *watchdog) release() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i, stop := range w.stops {
		stop()
		_ = w.conns[i].Close()
	}
	w.conns, w.stops = nil, nil
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
