// Package webhook delivers a notification as an HTTP POST of a JSON
// document (for chat tools and other SMS gateways), optionally signed with
// HMAC-SHA256.
//
// The document:
//
//	{"key":"…","alarm_id":"…","event":"firing","severity":"critical",
//	 "recipient":"…","subject":"…","body":"…","sent_at":"2006-01-02T15:04:05Z"}
//
// Headers: Content-Type: application/json, Idempotency-Key: the message key
// (the same for every retry of one notification, so a receiver can drop
// duplicates), X-Vedetta-Signature: sha256=<hex HMAC-SHA256 of the exact
// body with the secret> when a secret is configured, plus the configured
// headers. Verify with:
//
//	mac := hmac.New(sha256.New, secret); mac.Write(body)
//	hmac.Equal([]byte(header), []byte("sha256="+hex.EncodeToString(mac.Sum(nil))))
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/vedetta-dc/vedetta/internal/config"
	"github.com/vedetta-dc/vedetta/internal/redact"
	"github.com/vedetta-dc/vedetta/notify"
)

// DefaultTimeout bounds one POST when the config sets none.
const DefaultTimeout = 10 * time.Second

// SignatureHeader carries "sha256=" and the hex HMAC-SHA256 of the body.
const SignatureHeader = "X-Vedetta-Signature"

// Payload is the JSON document posted for each notification.
type Payload struct {
	Key       string    `json:"key"`
	AlarmID   string    `json:"alarm_id"`
	Event     string    `json:"event"`
	Severity  string    `json:"severity"`
	Recipient string    `json:"recipient"`
	Subject   string    `json:"subject"`
	Body      string    `json:"body"`
	SentAt    time.Time `json:"sent_at"`
}

// Provider posts to one URL; a notify.Provider, safe for concurrent use.
type Provider struct {
	name    string
	url     string
	known   []string // the URL as errors may name it (whole, or as the request line), for redact.Error
	secret  []byte
	headers http.Header
	timeout time.Duration
	client  *http.Client
	log     *slog.Logger
	now     func() time.Time
}

var _ notify.Provider = (*Provider)(nil)

// reserved are the headers the provider sets itself.
var reserved = map[string]bool{"Content-Length": true, "Host": true, "Idempotency-Key": true, SignatureHeader: true}

// Config is a webhook's options: everything of its entry in
// notify.webhooks but the name.
type Config struct {
	URL     string            `yaml:"url"`
	Secret  config.Secret     `yaml:"secret"` // HMAC-SHA256 of the body, in X-Vedetta-Signature
	Headers map[string]string `yaml:"headers"`
	Timeout time.Duration     `yaml:"timeout"`
}

// New checks cfg and builds the provider; it does not contact the URL.
// An empty name is the URL's host.
func New(name string, cfg Config, log *slog.Logger) (*Provider, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, config.Problem("url", "want http(s)://host/path, got %q", redact.URL(cfg.URL))
	}
	if name == "" {
		name = u.Host
	}
	if cfg.Timeout < 0 {
		return nil, config.Problem("timeout", "must not be negative")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	h := http.Header{}
	for k, v := range cfg.Headers {
		if !validHeaderName(k) || strings.ContainsAny(v, "\r\n\x00") {
			return nil, config.Problem("headers", "invalid header %q", k)
		}
		if reserved[http.CanonicalHeaderKey(k)] {
			return nil, config.Problem("headers", "header %q is set by vedetta", k)
		}
		h.Set(k, v)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	return &Provider{
		name: name, url: cfg.URL, known: []string{cfg.URL, u.RequestURI()}, secret: []byte(cfg.Secret.Reveal()), headers: h, timeout: cfg.Timeout,
		client: &http.Client{
			Transport: tr,
			Timeout:   cfg.Timeout,
			// A redirected POST becomes a GET on most servers: refuse, the
			// configured URL is wrong.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		log: log, now: time.Now, // the caller names the channel and provider
	}, nil
}

// Name is the webhook's configured name (the URL's host when unnamed).
func (p *Provider) Name() string { return p.name }

// Send posts m. 2xx is success; 408, 425, 429, 5xx, network errors and
// timeouts are temporary; 3xx and other 4xx are permanent.
func (p *Provider) Send(ctx context.Context, m notify.Message) error {
	body, err := json.Marshal(Payload{Key: m.Key, AlarmID: m.AlarmID, Event: m.Event, Severity: m.Severity,
		Recipient: m.Recipient, Subject: m.Subject, Body: m.Body, SentAt: p.now().UTC().Truncate(time.Second)})
	if err != nil {
		return notify.Permanent(fmt.Errorf("webhook %s: %w", p.name, err))
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(body))
	if err != nil {
		return notify.Permanent(fmt.Errorf("webhook %s: %w", p.name, err))
	}
	for k, v := range p.headers {
		req.Header[k] = v
	}
	if req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", "vedetta-webhook/1")
	}
	if m.Key != "" {
		req.Header.Set("Idempotency-Key", m.Key)
	}
	if len(p.secret) > 0 {
		req.Header.Set(SignatureHeader, Sign(p.secret, body))
	}
	res, err := p.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("no answer within %v: %w", p.timeout, ctx.Err())
		}
		// url.Error names the URL, which may carry a token in its query.
		return notify.Temporary(redact.Error(fmt.Errorf("webhook %s: %w", p.name, err), p.known...))
	}
	defer res.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(res.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10)) // let the connection be reused
	if res.StatusCode >= 200 && res.StatusCode < 300 {
		p.log.Debug("webhook delivered", "status", res.StatusCode, "key", m.Key)
		return nil
	}
	// The answer may quote the request ("no hook /hook?token=...").
	err = redact.Error(fmt.Errorf("webhook %s: HTTP %d: %s", p.name, res.StatusCode, strings.TrimSpace(string(snippet))), p.known...)
	switch {
	case res.StatusCode == http.StatusRequestTimeout, res.StatusCode == http.StatusTooEarly,
		res.StatusCode == http.StatusTooManyRequests, res.StatusCode >= 500:
		return notify.Temporary(err)
	}
	return notify.Permanent(err)
}

// Sign is the X-Vedetta-Signature value for body: "sha256=" and the hex
// HMAC-SHA256 of body with secret.
func Sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify reports whether sig is body's signature with secret (for
// receivers written in Go, and the tests).
func Verify(secret, body []byte, sig string) bool {
	return hmac.Equal([]byte(sig), []byte(Sign(secret, body)))
}

func validHeaderName(k string) bool {
	if k == "" {
		return false
	}
	for _, c := range k {
		if c <= ' ' || c >= 0x7f || strings.ContainsRune(`()<>@,;:\"/[]?={}`, c) {
			return false
		}
	}
	return true
}
