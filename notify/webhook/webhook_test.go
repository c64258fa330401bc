package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/internal/config"
	"github.com/vedetta-dc/vedetta/notify"
)

type received struct {
	header http.Header
	body   []byte
}

// server records what it receives and answers status (after delay).
func server(t *testing.T, status int, delay time.Duration) (*httptest.Server, func() []received) {
	t.Helper()
	var mu sync.Mutex
	var got []received
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, received{r.Header.Clone(), b})
		mu.Unlock()
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		if status >= 300 && status < 400 {
			w.Header().Set("Location", "/elsewhere")
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, http.StatusText(status))
	}))
	t.Cleanup(ts.Close)
	return ts, func() []received {
		mu.Lock()
		defer mu.Unlock()
		return append([]received(nil), got...)
	}
}

func msg() notify.Message {
	return notify.Message{Key: "ab12cd/firing/1/oncall/webhook", AlarmID: "ab12cd", Event: "firing", Severity: "critical",
		Recipient: "chat", Subject: "[vedetta dc1] FIRING critical: ups on battery [ab12cd]", Body: "ALARM FIRING\nline 2"}
}

func TestSendDocumentAndSignature(t *testing.T) {
	tests := []struct {
		name    string
		secret  string
		headers map[string]string
	}{
		{"signed", "s3cret-with-any-chars!", map[string]string{"Authorization": "Bearer tok", "X-Team": "noc"}},
		{"unsigned", "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts, got := server(t, http.StatusNoContent, 0)
			p, err := New("chat", Config{URL: ts.URL + "/hook", Secret: config.Secret(tc.secret), Headers: tc.headers}, nil)
			if err != nil {
				t.Fatal(err)
			}
			fixed := time.Date(2026, 3, 1, 12, 30, 45, 123, time.UTC)
			p.now = func() time.Time { return fixed }
			m := msg()
			if err := p.Send(context.Background(), m); err != nil {
				t.Fatalf("Send: %v", err)
			}
			r := got()
			if len(r) != 1 {
				t.Fatalf("server got %d requests", len(r))
			}
			var doc map[string]any
			if err := json.Unmarshal(r[0].body, &doc); err != nil {
				t.Fatalf("body %q: %v", r[0].body, err)
			}
			want := map[string]any{"key": m.Key, "alarm_id": m.AlarmID, "event": m.Event, "severity": m.Severity,
				"recipient": m.Recipient, "subject": m.Subject, "body": m.Body, "sent_at": "2026-03-01T12:30:45Z"}
			for k, v := range want {
				if doc[k] != v {
					t.Errorf("%s = %v, want %v", k, doc[k], v)
				}
			}
			if len(doc) != len(want) {
				t.Errorf("document has %d fields, want %d: %v", len(doc), len(want), doc)
			}
			h := r[0].header
			if h.Get("Content-Type") != "application/json" || h.Get("Idempotency-Key") != m.Key {
				t.Errorf("headers %v", h)
			}
			for k, v := range tc.headers {
				if h.Get(k) != v {
					t.Errorf("header %s = %q, want %q", k, h.Get(k), v)
				}
			}
			sig := h.Get(SignatureHeader)
			if tc.secret == "" {
				if sig != "" {
					t.Errorf("unsigned webhook sent %s: %q", SignatureHeader, sig)
				}
				return
			}
			if !strings.HasPrefix(sig, "sha256=") || len(sig) != len("sha256=")+64 {
				t.Errorf("signature %q", sig)
			}
			if !Verify([]byte(tc.secret), r[0].body, sig) {
				t.Error("signature does not verify with the secret")
			}
			if Verify([]byte("other"), r[0].body, sig) || Verify([]byte(tc.secret), append(r[0].body, ' '), sig) {
				t.Error("signature verifies with a wrong secret or a changed body")
			}
		})
	}
}

func TestSendClassification(t *testing.T) {
	tests := []struct {
		status    int
		wantErr   bool
		permanent bool
	}{
		{200, false, false}, {201, false, false}, {202, false, false}, {204, false, false},
		{301, true, true}, {302, true, true},
		{400, true, true}, {401, true, true}, {403, true, true}, {404, true, true}, {410, true, true}, {422, true, true},
		{408, true, false}, {425, true, false}, {429, true, false},
		{500, true, false}, {502, true, false}, {503, true, false}, {504, true, false},
	}
	for _, tc := range tests {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			ts, got := server(t, tc.status, 0)
			p, err := New("chat", Config{URL: ts.URL}, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = p.Send(context.Background(), msg())
			if (err != nil) != tc.wantErr {
				t.Fatalf("HTTP %d: err = %v, want error %v", tc.status, err, tc.wantErr)
			}
			if err != nil && notify.IsPermanent(err) != tc.permanent {
				t.Errorf("HTTP %d: permanent = %v, want %v (%v)", tc.status, notify.IsPermanent(err), tc.permanent, err)
			}
			if n := len(got()); n != 1 {
				t.Errorf("server got %d requests, want 1 (no redirect followed)", n)
			}
		})
	}
}

func TestSendNetworkErrors(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String() + "/hook?token=sekrit"
	l.Close()
	slow, _ := server(t, 200, time.Minute)
	tests := []struct {
		name     string
		url      string
		timeout  time.Duration
		ctxAfter time.Duration
		within   time.Duration
		deadline bool
	}{
		{name: "connection refused", url: closed, timeout: time.Second, ctxAfter: time.Minute, within: time.Second},
		{name: "timeout", url: slow.URL, timeout: 200 * time.Millisecond, ctxAfter: time.Minute, within: time.Second, deadline: true},
		{name: "caller deadline", url: slow.URL, timeout: time.Minute, ctxAfter: 200 * time.Millisecond, within: time.Second, deadline: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := New("chat", Config{URL: tc.url, Timeout: tc.timeout}, nil)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), tc.ctxAfter)
			defer cancel()
			start := time.Now()
			err = p.Send(ctx, msg())
			if err == nil || notify.IsPermanent(err) {
				t.Fatalf("want a temporary error, got %v", err)
			}
			if el := time.Since(start); el > tc.within {
				t.Errorf("returned after %v, want within %v", el, tc.within)
			}
			if tc.deadline && !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("want a deadline error, got %v", err)
			}
			if strings.Contains(err.Error(), "sekrit") {
				t.Errorf("error reveals the URL's query: %v", err)
			}
		})
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name     string
		hook     string
		cfg      Config
		wantErr  string
		wantName string
	}{
		{name: "named", hook: "chat", cfg: Config{URL: "https://chat.example/hook"}, wantName: "chat"},
		{name: "unnamed uses host", cfg: Config{URL: "https://chat.example:8443/hook"}, wantName: "chat.example:8443"},
		{name: "no url", hook: "x", cfg: Config{}, wantErr: "url"},
		{name: "not http", cfg: Config{URL: "ftp://h/x"}, wantErr: "url"},
		{name: "no host", cfg: Config{URL: "http:///x"}, wantErr: "url"},
		{name: "bad header name", cfg: Config{URL: "http://h/", Headers: map[string]string{"Bad Name": "v"}}, wantErr: "invalid header"},
		{name: "header injection", cfg: Config{URL: "http://h/", Headers: map[string]string{"X-A": "v\r\nX-B: w"}}, wantErr: "invalid header"},
		{name: "reserved header", cfg: Config{URL: "http://h/", Headers: map[string]string{"x-vedetta-signature": "v"}}, wantErr: "set by vedetta"},
		{name: "negative timeout", cfg: Config{URL: "http://h/", Timeout: -1}, wantErr: "timeout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := New(tc.hook, tc.cfg, nil)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("want an error with %q, got %v", tc.wantErr, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Name() != tc.wantName || p.timeout != DefaultTimeout {
				t.Errorf("name %q timeout %v", p.Name(), p.timeout)
			}
		})
	}
}

// TestErrorsRedactURL: neither a refused connection nor an answer that
// quotes the request reveals the URL's password or token.
func TestErrorsRedactURL(t *testing.T) {
	const secret = "s3cret"
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no hook at "+r.RequestURI, http.StatusNotFound)
	}))
	t.Cleanup(echo.Close)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	host := strings.TrimPrefix(echo.URL, "http://")
	for _, tc := range []struct{ name, url string }{
		{"refused", "http://bot:" + secret + "@" + closed + "/hook?token=" + secret},
		{"answer quotes the request", "http://" + host + "/hook?channel=noc&token=" + secret},
		{"answer quotes the request, user info", "http://bot:" + secret + "@" + host + "/hook?key=" + secret},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := New("chat", Config{URL: tc.url, Timeout: 2 * time.Second}, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = p.Send(context.Background(), msg())
			if err == nil {
				t.Fatal("want an error")
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error reveals the secret: %v", err)
			}
			t.Log(err)
		})
	}
	_, err = New("", Config{URL: "ftp://bot:" + secret + "@h/?token=" + secret}, nil)
	if err == nil || strings.Contains(err.Error(), secret) {
		t.Errorf("New: err = %v, want an error without the secret", err)
	}
}
