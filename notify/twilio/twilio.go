// Package twilio sends SMS through a Twilio account with
// github.com/twilio/twilio-go, then follows the message's status so that a
// message Twilio accepted but the carrier did not deliver fails over to the
// next SMS provider.
//
// twilio-go takes no context and has no base-URL option. Every call gets a
// fresh client whose RoundTripper (a) sends the request to api_url, keeping
// path, form, Basic auth and User-Agent, and (b) binds it to a context this
// package controls, so a deadline or a cancelled ctx really aborts the HTTP
// exchange; the call also runs in a goroutine that Send abandons on
// ctx.Done, in case the library ever blocks outside the HTTP exchange.
package twilio

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	tclient "github.com/twilio/twilio-go/client"
	api "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/vedetta-dc/vedetta/internal/config"
	"github.com/vedetta-dc/vedetta/notify"
)

// Defaults for the zero values of Config.
const (
	DefaultAPIURL        = "https://api.twilio.com"
	DefaultTimeout       = 10 * time.Second
	DefaultStatusTimeout = 60 * time.Second
	DefaultStatusPoll    = 2 * time.Second
)

// Provider is one Twilio account (or number): a notify.Provider and a
// notify.Prober. It is safe for concurrent use.
type Provider struct {
	name          string
	sid, token    string
	from, service string
	target        *url.URL
	timeout       time.Duration
	statusTimeout time.Duration
	statusPoll    time.Duration
	transport     http.RoundTripper
	log           *slog.Logger
	replies       atomic.Bool // the inbound webhook reads replies: say how to acknowledge
}

var (
	_ notify.Provider = (*Provider)(nil)
	_ notify.Prober   = (*Provider)(nil)

	alnum = regexp.MustCompile(`^[A-Za-z0-9]+$`)
)

// Config is a Twilio account (or a number on it): the twilio: block of an
// SMS provider, decoded and validated here.
type Config struct {
	AccountSID          string        `yaml:"account_sid"`
	AuthToken           config.Secret `yaml:"auth_token"`
	From                string        `yaml:"from"`
	MessagingServiceSID string        `yaml:"messaging_service_sid"`
	// APIURL defaults to https://api.twilio.com; tests point it at a
	// Twilio-speaking server on 127.0.0.1.
	APIURL  string        `yaml:"api_url"`
	Timeout time.Duration `yaml:"timeout"`
	// StatusTimeout is how long to follow a message's status after Twilio
	// accepted it; failed/undelivered within it fails over to the next
	// provider. Default 60s.
	StatusTimeout time.Duration `yaml:"status_timeout"`
	StatusPoll    time.Duration `yaml:"status_poll"`
}

// New checks cfg and builds the provider; it does not contact Twilio (see
// Probe).
func New(name string, cfg Config, log *slog.Logger) (*Provider, error) {
	if name == "" {
		name = "twilio"
	}
	// Problems name their field: the config says where it is.
	fail := func(field, format string, a ...any) (*Provider, error) {
		return nil, config.Problem(field, format, a...)
	}
	if !strings.HasPrefix(cfg.AccountSID, "AC") || !alnum.MatchString(cfg.AccountSID) {
		return fail("account_sid", "want an account SID (AC followed by letters and digits), got %q", cfg.AccountSID)
	}
	tok := cfg.AuthToken.Reveal()
	if tok == "" {
		return fail("auth_token", "required")
	}
	if !alnum.MatchString(tok) { // twilio-go refuses it client-side (error 21224); say so now
		return fail("auth_token", "letters and digits only")
	}
	if cfg.From == "" && cfg.MessagingServiceSID == "" {
		return fail("from", "give from or messaging_service_sid")
	}
	if cfg.MessagingServiceSID != "" && (!strings.HasPrefix(cfg.MessagingServiceSID, "MG") || !alnum.MatchString(cfg.MessagingServiceSID)) {
		return fail("messaging_service_sid", "want MG..., got %q", cfg.MessagingServiceSID)
	}
	raw := cfg.APIURL
	if raw == "" {
		raw = DefaultAPIURL
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fail("api_url", "%v", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.User != nil {
		return fail("api_url", "want http(s)://host[:port][/path], got %q", raw)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	for _, d := range []struct {
		v    *time.Duration
		def  time.Duration
		name string
	}{{&cfg.Timeout, DefaultTimeout, "timeout"}, {&cfg.StatusTimeout, DefaultStatusTimeout, "status_timeout"}, {&cfg.StatusPoll, DefaultStatusPoll, "status_poll"}} {
		if *d.v < 0 {
			return fail(d.name, "must not be negative")
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.ResponseHeaderTimeout = cfg.Timeout
	return &Provider{
		name: name, sid: cfg.AccountSID, token: tok, from: cfg.From, service: cfg.MessagingServiceSID,
		target: u, timeout: cfg.Timeout, statusTimeout: cfg.StatusTimeout, statusPoll: cfg.StatusPoll,
		transport: tr, log: log, // the caller names the channel and provider
	}, nil
}

// Name is the provider's configured name (for logs and the delivery ledger).
func (p *Provider) Name() string { return p.name }

// Send creates the message and follows its status for at most
// status_timeout:
//   - HTTP 429 and 5xx, network errors and timeouts are temporary;
//   - other 4xx are permanent (21211 invalid number, 20003 authentication);
//   - "delivered" (or "read") is success;
//   - "failed", "undelivered" or "canceled" is a permanent error for this
//     provider, naming Twilio's error code, so Failover moves on at once;
//   - still queued/sending/sent when status_timeout passes, or when ctx ends
//     during the wait, is success: Twilio accepted the message and sending
//     it again would duplicate it (logged).
func (p *Provider) Send(ctx context.Context, m notify.Message) error {
	if strings.TrimSpace(m.Recipient) == "" {
		return notify.Permanent(errors.New("twilio: message has no recipient number"))
	}
	params := &api.CreateMessageParams{}
	params.SetTo(m.Recipient)
	if p.from != "" {
		params.SetFrom(p.from)
	}
	if p.service != "" {
		params.SetMessagingServiceSid(p.service)
	}
	if p.replies.Load() {
		params.SetBody(SMSTextReply(m))
	} else {
		params.SetBody(SMSText(m))
	}

	msg, err := call(ctx, p, "create message", func(s *api.ApiService) (*api.ApiV2010Message, error) {
		return s.CreateMessage(params)
	})
	if err != nil {
		if !notify.IsPermanent(err) && (errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil) {
			// The request may have reached Twilio: a retry can duplicate.
			p.log.Warn("twilio create timed out; the message may have been accepted", "key", m.Key, "to", m.Recipient)
		}
		return err
	}
	sid, status := deref(msg.Sid), deref(msg.Status)
	if sid == "" {
		return notify.Temporary(fmt.Errorf("twilio create message: answer without a message sid (status %q)", status))
	}
	notify.AcceptedAs(ctx, sid) // from now on, waiting for its status beats sending it twice
	p.log.Info("twilio accepted message", "sid", sid, "status", status, "to", m.Recipient, "key", m.Key, "alarm", m.AlarmID)
	return p.follow(ctx, m, msg)
}

// Follow asks Twilio how a message it took (sid) has fared, for a send
// taken over from a process that stopped while following it; then follows
// it as Send does. A message Twilio does not know (404) is a permanent
// error: the next provider sends it.
func (p *Provider) Follow(ctx context.Context, m notify.Message, sid string) error {
	if sid == "" {
		return notify.Temporary(errors.New("twilio: no message sid to follow"))
	}
	msg, err := call(ctx, p, "fetch message", func(s *api.ApiService) (*api.ApiV2010Message, error) {
		return s.FetchMessage(sid, &api.FetchMessageParams{})
	})
	if err != nil {
		return err
	}
	p.log.Info("twilio message taken over: following it", "sid", sid, "status", deref(msg.Status), "key", m.Key)
	return p.follow(ctx, m, msg)
}

// follow polls the message until a final status, status_timeout or ctx.
func (p *Provider) follow(ctx context.Context, m notify.Message, msg *api.ApiV2010Message) error {
	sid := deref(msg.Sid)
	deadline := time.Now().Add(p.statusTimeout)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		status := deref(msg.Status)
		switch status {
		case "delivered", "read":
			p.log.Info("twilio message delivered", "sid", sid, "key", m.Key)
			return nil
		case "failed", "undelivered", "canceled":
			code, text := 0, ""
			if msg.ErrorCode != nil {
				code = *msg.ErrorCode
			}
			if msg.ErrorMessage != nil {
				text = ": " + *msg.ErrorMessage
			}
			return notify.Permanent(fmt.Errorf("twilio message %s to %s %s (Twilio error %d%s, https://www.twilio.com/docs/errors/%d)",
				sid, m.Recipient, status, code, text, code))
		}
		wait := min(p.statusPoll, time.Until(deadline))
		if wait <= 0 {
			p.log.Info("twilio message accepted, delivery not confirmed within status_timeout; counting it as sent",
				"sid", sid, "status", status, "status_timeout", p.statusTimeout, "key", m.Key)
			return nil
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			p.log.Warn("twilio message accepted, stopped following its status", "sid", sid, "status", status,
				"err", ctx.Err(), "key", m.Key)
			return nil
		case <-timer.C:
		}
		if time.Now().After(deadline) {
			continue // the loop logs and returns
		}
		got, err := call(ctx, p, "fetch message", func(s *api.ApiService) (*api.ApiV2010Message, error) {
			return s.FetchMessage(sid, &api.FetchMessageParams{})
		})
		if err != nil {
			p.log.Debug("twilio status fetch failed", "sid", sid, "err", err)
			continue
		}
		if deref(got.Status) != status {
			p.log.Debug("twilio message status", "sid", sid, "status", deref(got.Status))
		}
		msg = got
	}
}

// Probe fetches the account: wrong credentials (401), an unknown account
// (404), a suspended or closed account, or no answer within timeout is an
// error.
func (p *Provider) Probe(ctx context.Context) error {
	acct, err := call(ctx, p, "fetch account", func(s *api.ApiService) (*api.ApiV2010Account, error) {
		return s.FetchAccount(p.sid)
	})
	if err != nil {
		return err
	}
	if st := deref(acct.Status); st != "" && st != "active" {
		return notify.Permanent(fmt.Errorf("twilio account %s is %s", p.sid, st))
	}
	return nil
}

// call runs one twilio-go request bounded by ctx and timeout, and
// classifies its error.
func call[T any](ctx context.Context, p *Provider, op string, fn func(*api.ApiService) (*T, error)) (*T, error) {
	cctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	rt := &rewrite{ctx: cctx, base: p.transport, target: p.target}
	c := &tclient.Client{
		Credentials: tclient.NewCredentials(p.sid, p.token),
		HTTPClient: &http.Client{
			Transport: rt,
			// cctx is the deadline; this only backs it up.
			Timeout:       p.timeout + time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	c.SetAccountSid(p.sid)
	// RequestHandler with empty Edge/Region: TWILIO_EDGE/TWILIO_REGION in
	// the environment must not redirect vedetta's requests.
	svc := api.NewApiService(&tclient.RequestHandler{Client: c})

	type result struct {
		v   *T
		err error
	}
	done := make(chan result, 1) // buffered: an abandoned call ends without a reader
	go func() {
		v, err := fn(svc)
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			// url.Error names https://api.twilio.com; say where it really went.
			var ue *url.Error
			if errors.As(r.err, &ue) {
				if u, err := url.Parse(ue.URL); err == nil {
					u.Scheme, u.Host, u.Path = p.target.Scheme, p.target.Host, p.target.Path+u.Path
					ue.URL = u.String()
				}
			}
			return nil, classify(op, r.err, int(rt.status.Load()), cctx)
		}
		if r.v == nil {
			return nil, notify.Temporary(fmt.Errorf("twilio %s: empty answer", op))
		}
		return r.v, nil
	case <-cctx.Done():
		return nil, classify(op, cctx.Err(), int(rt.status.Load()), cctx)
	}
}

// classify maps a twilio-go error to notify.Temporary/Permanent. status is
// the HTTP status the transport saw (0 if none).
func classify(op string, err error, status int, cctx context.Context) error {
	var te *tclient.TwilioRestError
	var v1 *tclient.RestErrorV1
	code := 0
	switch {
	case errors.As(err, &te):
		code = te.Code
		if te.Status != 0 {
			status = te.Status
		}
		if status == 0 && (code == 21222 || code == 21224) { // refused client-side: bad credentials format
			return notify.Permanent(fmt.Errorf("twilio %s: %w", op, err))
		}
	case errors.As(err, &v1):
		code = v1.Code
		if v1.HttpStatusCode != 0 {
			status = v1.HttpStatusCode
		}
	}
	// The transport's header timeout equals our deadline, so either may
	// fire first: both mean no answer in time.
	var ne net.Error
	timedOut := status == 0 && errors.As(err, &ne) && ne.Timeout()
	if timedOut || cctx.Err() != nil && (status == 0 || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		// Our deadline or the caller's context: no complete answer.
		if timedOut || errors.Is(cctx.Err(), context.DeadlineExceeded) {
			return notify.Temporary(fmt.Errorf("twilio %s: no answer in time: %w", op, context.DeadlineExceeded))
		}
		return notify.Temporary(fmt.Errorf("twilio %s: %w", op, cctx.Err()))
	}
	switch {
	case status == 0: // network error, or a 2xx/3xx answer twilio-go could not decode
		return notify.Temporary(fmt.Errorf("twilio %s: %w", op, err))
	case status == http.StatusTooManyRequests || status >= 500:
		return notify.Temporary(fmt.Errorf("twilio %s: HTTP %d (code %d): %w", op, status, code, err))
	case status >= 400:
		return notify.Permanent(fmt.Errorf("twilio %s: HTTP %d (code %d): %w", op, status, code, err))
	}
	return notify.Temporary(fmt.Errorf("twilio %s: HTTP %d: %w", op, status, err))
}

// rewrite sends the request twilio-go built for https://api.twilio.com to
// the configured api_url, bound to ctx, and records the HTTP status.
type rewrite struct {
	ctx    context.Context
	base   http.RoundTripper
	target *url.URL
	status atomic.Int32
}

func (r *rewrite) RoundTrip(req *http.Request) (*http.Response, error) {
	out := req.Clone(r.ctx)
	out.URL.Scheme, out.URL.Host, out.Host = r.target.Scheme, r.target.Host, ""
	if r.target.Path != "" {
		out.URL.Path = r.target.Path + req.URL.Path
		out.URL.RawPath = ""
	}
	res, err := r.base.RoundTrip(out)
	if res != nil {
		r.status.Store(int32(res.StatusCode))
	}
	return res, err
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
