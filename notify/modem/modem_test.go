package modem

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/vedetta-dc/vedetta/internal/config"
	"github.com/vedetta-dc/vedetta/internal/testpeer"
	"github.com/vedetta-dc/vedetta/notify"
)

const testTimeout = 300 * time.Millisecond

// start returns a simulated modem and a provider on it (command timeout
// 300 ms), with its debug log.
func start(t *testing.T, pin string) (*testpeer.Modem, *Provider, *testpeer.Buffer) {
	t.Helper()
	sim := testpeer.StartModem(t)
	logs := &testpeer.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	p, err := New("gsm", Config{Device: sim.Device(), PIN: config.Secret(pin), CommandTimeout: testTimeout}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return sim, p, logs
}

func msg(subject string) notify.Message {
	return notify.Message{Key: "k1", AlarmID: "a1b2c3d4e5", Event: "firing", Severity: "critical",
		Recipient: "+393331234567", Subject: subject}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestNew(t *testing.T) {
	if _, err := New("gsm", Config{}, nil); err == nil {
		t.Error("empty device accepted")
	}
	if _, err := New("gsm", Config{Device: "/dev/ttyUSB0", CommandTimeout: -time.Second}, nil); err == nil {
		t.Error("negative timeout accepted")
	}
	p, err := New("gsm", Config{Device: "/dev/ttyUSB0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.cfg.Baud != 115200 || p.cfg.CommandTimeout != 5*time.Second || p.cfg.ProbeInterval != 5*time.Minute {
		t.Errorf("defaults not applied: %+v", p.cfg)
	}
	if p.Name() != "gsm" {
		t.Errorf("Name() = %q", p.Name())
	}
}

func TestSend(t *testing.T) {
	long := strings.Repeat("PDU-A3 outlet 7 current above threshold ", 10)
	tests := []struct {
		name    string
		subject string
		want    string // exact recorded text, when set
		ucs2    bool
		max     int // septets or UTF-16 units, when set
	}{
		{name: "gsm", subject: "UPS-2 on battery [a1b2c3d4e5]", want: "UPS-2 on battery [a1b2c3d4e5]"},
		{name: "ucs2", subject: "Température élevée — salle 2 [a1b2c3d4e5]", want: "Température élevée — salle 2 [a1b2c3d4e5]", ucs2: true},
		{name: "long gsm", subject: long + "[a1b2c3d4e5]", max: 160},
		{name: "long ucs2", subject: "Сервер " + long + "[a1b2c3d4e5]", ucs2: true, max: 70},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sim, p, _ := start(t, "")
			if err := p.Send(ctxT(t), msg(tc.subject)); err != nil {
				t.Fatal(err)
			}
			sent := sim.Sent()
			if len(sent) != 1 {
				t.Fatalf("sent %d SMS, want 1", len(sent))
			}
			if sent[0].Number != "+393331234567" {
				t.Errorf("number = %q", sent[0].Number)
			}
			got := sent[0].Text
			if tc.want != "" && got != tc.want {
				t.Errorf("text = %q, want %q", got, tc.want)
			}
			if tc.max > 0 {
				n := septets(got)
				if tc.ucs2 {
					n = len(utf16.Encode([]rune(got)))
				}
				if n > tc.max || !strings.HasSuffix(got, " [a1b2c3d4e5]") {
					t.Errorf("text %q: length %d (max %d) or id lost", got, n, tc.max)
				}
			}
			if ucs2 := sim.Count(`AT+CSCS="UCS2"`) == 1; ucs2 != tc.ucs2 {
				t.Errorf("UCS2 charset selected = %v, want %v (commands %q)", ucs2, tc.ucs2, sim.Commands())
			}
		})
	}
}

func TestSendUCS2Refused(t *testing.T) {
	sim, p, _ := start(t, "")
	sim.RefuseUCS2()
	if err := p.Send(ctxT(t), msg("Température élevée salle 2 [a1b2c3d4e5]")); err != nil {
		t.Fatal(err)
	}
	if s := sim.Sent(); len(s) != 1 || s[0].Text != "Temperature elevee salle 2 [a1b2c3d4e5]" || s[0].Number != "+393331234567" {
		t.Errorf("sent %q, want the GSM-7 transliteration", s)
	}
}

func TestSendKeepsSession(t *testing.T) {
	sim, p, _ := start(t, "")
	for i := range 3 {
		if err := p.Send(ctxT(t), msg(fmt.Sprintf("alarm %d [a1b2c3d4e5]", i))); err != nil {
			t.Fatal(err)
		}
	}
	if n := sim.Count("ATE0"); n != 1 {
		t.Errorf("modem initialised %d times for 3 sends, want 1 (port kept open)", n)
	}
	if len(sim.Sent()) != 3 {
		t.Errorf("sent %d, want 3", len(sim.Sent()))
	}
}

func TestOneSessionAtATime(t *testing.T) {
	sim, p, _ := start(t, "")
	var wg sync.WaitGroup
	errs := make(chan error, 7)
	for i := range 6 {
		wg.Go(func() { errs <- p.Send(ctxT(t), msg(fmt.Sprintf("alarm %d [a1b2c3d4e5]", i))) })
	}
	wg.Go(func() { errs <- p.Probe(ctxT(t)) })
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	seen := map[string]bool{}
	for _, s := range sim.Sent() {
		seen[s.Text] = true
	}
	if len(seen) != 6 {
		t.Errorf("distinct SMS = %d, want 6: %v", len(seen), sim.Sent())
	}
}

func TestPIN(t *testing.T) {
	tests := []struct {
		name       string
		configured string
		ok         bool
		attempts   int // PIN entries after two sends
	}{
		{name: "right pin", configured: "4831", ok: true, attempts: 1},
		{name: "wrong pin is tried once", configured: "9672", attempts: 1},
		{name: "no pin configured", configured: "", attempts: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sim, p, logs := start(t, tc.configured)
			sim.RequirePIN("4831")
			for i := range 2 {
				err := p.Send(ctxT(t), msg("UPS-2 on battery [a1b2c3d4e5]"))
				if (err == nil) != tc.ok {
					t.Fatalf("send %d: err = %v, want ok %v", i, err, tc.ok)
				}
				if err != nil && !notify.IsPermanent(err) {
					t.Errorf("SIM error should be permanent: %v", err)
				}
				if err != nil && tc.configured != "" && strings.Contains(err.Error(), tc.configured) {
					t.Errorf("error shows the PIN: %v", err)
				}
			}
			if n := sim.PINAttempts(); n != tc.attempts {
				t.Errorf("PIN entered %d times, want %d", n, tc.attempts)
			}
			if want := map[bool]int{true: 2, false: 0}[tc.ok]; len(sim.Sent()) != want {
				t.Errorf("sent %d, want %d", len(sim.Sent()), want)
			}
			if tc.configured != "" && regexp.MustCompile(`(^|\D)`+tc.configured+`(\D|$)`).MatchString(logs.String()) {
				t.Errorf("log shows the PIN:\n%s", logs)
			}
		})
	}
}

func TestSendErrors(t *testing.T) {
	tests := []struct {
		name      string
		setup     func(*testpeer.Modem)
		recipient string
		permanent bool
		is        error
	}{
		{name: "unregistered", setup: (*testpeer.Modem).Unregister, permanent: false, is: ErrNotRegistered},
		{name: "searching", setup: func(m *testpeer.Modem) { m.SetRegistration(2) }, permanent: false, is: ErrNotRegistered},
		{name: "cms 21 rejected", setup: func(m *testpeer.Modem) { m.FailSend(21) }, permanent: true},
		{name: "cms 28 unidentified subscriber", setup: func(m *testpeer.Modem) { m.FailSend(28) }, permanent: true},
		{name: "plain error", setup: func(m *testpeer.Modem) { m.FailSend(-1) }, permanent: true},
		{name: "cms 38 network out of order", setup: func(m *testpeer.Modem) { m.FailSend(38) }, permanent: false},
		{name: "invalid number", setup: func(*testpeer.Modem) {}, recipient: "+39 abc", permanent: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sim, p, _ := start(t, "")
			tc.setup(sim)
			m := msg("UPS-2 on battery [a1b2c3d4e5]")
			if tc.recipient != "" {
				m.Recipient = tc.recipient
			}
			err := p.Send(ctxT(t), m)
			if err == nil {
				t.Fatal("send succeeded")
			}
			if notify.IsPermanent(err) != tc.permanent {
				t.Errorf("permanent = %v, want %v: %v", notify.IsPermanent(err), tc.permanent, err)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v is not %v", err, tc.is)
			}
			if len(sim.Sent()) != 0 {
				t.Errorf("sent %v", sim.Sent())
			}
			// The modem answered: the session stays open.
			if p.Hangs() != 0 {
				t.Errorf("hangs = %d", p.Hangs())
			}
		})
	}
}

func TestRoamingSends(t *testing.T) {
	sim, p, _ := start(t, "")
	sim.SetRegistration(5)
	if err := p.Send(ctxT(t), msg("UPS-2 on battery [a1b2c3d4e5]")); err != nil {
		t.Fatal(err)
	}
	if len(sim.Sent()) != 1 {
		t.Errorf("sent %d", len(sim.Sent()))
	}
}

// A hung modem fails the send within about one command timeout; once it
// answers again the next send re-opens the port, re-initialises and works.
func TestHangThenReset(t *testing.T) {
	sim, p, _ := start(t, "")
	if err := p.Send(ctxT(t), msg("first [a1b2c3d4e5]")); err != nil {
		t.Fatal(err)
	}
	sim.Hang()
	began := time.Now()
	err := p.Send(ctxT(t), msg("second [a1b2c3d4e5]"))
	took := time.Since(began)
	if err == nil || notify.IsPermanent(err) || !errors.Is(err, ErrHang) {
		t.Fatalf("err = %v, want a temporary hang", err)
	}
	if took < testTimeout || took > 3*testTimeout {
		t.Errorf("hang detected after %v, want about %v", took, testTimeout)
	}
	if p.Hangs() != 1 {
		t.Errorf("hangs = %d, want 1", p.Hangs())
	}
	sim.Reset()
	if err := p.Send(ctxT(t), msg("third [a1b2c3d4e5]")); err != nil {
		t.Fatalf("send after reset: %v", err)
	}
	if n := sim.Count("ATE0"); n != 2 {
		t.Errorf("initialised %d times, want 2 (re-opened after the hang)", n)
	}
	var texts []string
	for _, s := range sim.Sent() {
		texts = append(texts, s.Text)
	}
	if got := strings.Join(texts, "|"); got != "first [a1b2c3d4e5]|third [a1b2c3d4e5]" {
		t.Errorf("sent %q", got)
	}
}

// After Ctrl-Z the modem waits for the network: that wait is bounded by
// SubmitFactor × CommandTimeout, then it is a hang like any other.
func TestHangOnSubmit(t *testing.T) {
	sim, p, _ := start(t, "")
	sim.HangOnSubmit()
	began := time.Now()
	err := p.Send(ctxT(t), msg("UPS-2 on battery [a1b2c3d4e5]"))
	took := time.Since(began)
	if !errors.Is(err, ErrHang) || notify.IsPermanent(err) {
		t.Fatalf("err = %v, want a temporary hang", err)
	}
	if want := SubmitFactor * testTimeout; took < want || took > want+time.Second {
		t.Errorf("gave up after %v, want about %v", took, want)
	}
	if p.Hangs() != 1 {
		t.Errorf("hangs = %d, want 1", p.Hangs())
	}
	sim.Reset()
	if err := p.Send(ctxT(t), msg("UPS-2 on battery [a1b2c3d4e5]")); err != nil {
		t.Fatalf("send after reset: %v", err)
	}
}

// A hung modem that keeps emitting notices (gammu#393) must not keep the
// command alive: the deadline is fixed when the command is sent.
func TestNoticesDoNotExtendDeadline(t *testing.T) {
	sim, p, _ := start(t, "")
	if err := p.Probe(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	sim.Hang()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(testTimeout / 6)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				sim.Unsolicited("RING")
				sim.Unsolicited(`+CMTI: "SM",1`)
			}
		}
	}()
	began := time.Now()
	err := p.Send(ctxT(t), msg("UPS-2 on battery [a1b2c3d4e5]"))
	took := time.Since(began)
	close(stop)
	<-done
	if !errors.Is(err, ErrHang) {
		t.Fatalf("err = %v, want a hang", err)
	}
	if took > 3*testTimeout {
		t.Errorf("notices extended the deadline: failed after %v (timeout %v)", took, testTimeout)
	}
}

func TestNoticesInterleaved(t *testing.T) {
	sim, p, _ := start(t, "")
	sim.SetNotices("RING", `+CMTI: "SM",1`, "+CREG: 5", `+CREG: 1,"00C3","0010"`, "+CSQ: 3,99")
	sim.Unsolicited("RDY")
	if err := p.Send(ctxT(t), msg("UPS-2 on battery [a1b2c3d4e5]")); err != nil {
		t.Fatal(err)
	}
	if len(sim.Sent()) != 1 || sim.Sent()[0].Text != "UPS-2 on battery [a1b2c3d4e5]" {
		t.Errorf("sent %v", sim.Sent())
	}
	sim.SetSignal(17)
	if err := p.Probe(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	// The answer is the last +CSQ line, not the notice before it.
	if rssi, ok := p.Signal(); rssi != 17 || !ok {
		t.Errorf("Signal() = %d, %v; want 17, true", rssi, ok)
	}
}

func TestProbe(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(*testpeer.Modem)
		ok     bool
		rssi   int
		sigOK  bool
		is     error
		hangs  int64
		notErr string
	}{
		{name: "healthy", setup: func(*testpeer.Modem) {}, ok: true, rssi: 20, sigOK: true},
		{name: "signal unknown", setup: func(m *testpeer.Modem) { m.SetSignal(99) }, rssi: 99},
		{name: "no signal", setup: func(m *testpeer.Modem) { m.SetSignal(0) }, rssi: 0, sigOK: true},
		{name: "unregistered", setup: (*testpeer.Modem).Unregister, is: ErrNotRegistered},
		{name: "sim locked without pin", setup: func(m *testpeer.Modem) { m.RequirePIN("1111") }},
		{name: "hung", setup: (*testpeer.Modem).Hang, is: ErrHang, hangs: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sim, p, _ := start(t, "")
			if err := p.Probe(ctxT(t)); err != nil { // a healthy reading first
				t.Fatal(err)
			}
			tc.setup(sim)
			err := p.Probe(ctxT(t))
			if (err == nil) != tc.ok {
				t.Fatalf("probe err = %v, want ok %v", err, tc.ok)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("err %v is not %v", err, tc.is)
			}
			if rssi, ok := p.Signal(); rssi != tc.rssi || ok != tc.sigOK {
				t.Errorf("Signal() = %d, %v; want %d, %v", rssi, ok, tc.rssi, tc.sigOK)
			}
			if p.Hangs() != tc.hangs {
				t.Errorf("hangs = %d, want %d", p.Hangs(), tc.hangs)
			}
			if len(sim.Sent()) != 0 {
				t.Errorf("a probe sent SMS: %v", sim.Sent())
			}
		})
	}
}

func TestRunLogsTransitions(t *testing.T) {
	sim := testpeer.StartModem(t)
	logs := &testpeer.Buffer{}
	p, err := New("gsm", Config{Device: sim.Device(), CommandTimeout: testTimeout, ProbeInterval: 30 * time.Millisecond},
		slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	sim.Unregister()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); p.Run(ctx) }()
	waitFor(t, logs, "modem unhealthy")
	sim.Reset()
	waitFor(t, logs, "modem healthy")
	cancel()
	<-done
	if n := strings.Count(logs.String(), "modem unhealthy"); n != 1 {
		t.Errorf("unhealthy logged %d times, want once per transition:\n%s", n, logs)
	}
}

func waitFor(t *testing.T, logs *testpeer.Buffer, s string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in log:\n%s", s, logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestContextCancelled(t *testing.T) {
	sim, p, _ := start(t, "")
	sim.Hang()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout/3)
	defer cancel()
	began := time.Now()
	err := p.Send(ctx, msg("UPS-2 on battery [a1b2c3d4e5]"))
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want the context's", err)
	}
	if took := time.Since(began); took > testTimeout {
		t.Errorf("context ignored: returned after %v", took)
	}
	if p.Hangs() != 0 {
		t.Errorf("a cancelled context counted as a hang")
	}
}

// failing is a provider that always fails temporarily (Twilio down).
type failing struct{ calls int }

func (f *failing) Name() string { return "twilio-main" }
func (f *failing) Send(context.Context, notify.Message) error {
	f.calls++
	return notify.Temporary(errors.New("twilio: 503"))
}

func TestFailoverToModem(t *testing.T) {
	sim, p, _ := start(t, "")
	tw := &failing{}
	f := &notify.Failover{Channel: "sms", Providers: []notify.Provider{tw, p}, FailoverAfter: time.Second}
	got, err := f.Notify(ctxT(t), msg("UPS-2 on battery [a1b2c3d4e5]"))
	if err != nil {
		t.Fatal(err)
	}
	if got != "gsm" {
		t.Errorf("delivered by %q, want gsm", got)
	}
	if tw.calls != 1 {
		t.Errorf("the first provider was tried %d times; fail over first, retry later wants 1", tw.calls)
	}
	if s := sim.Sent(); len(s) != 1 || s[0].Number != "+393331234567" {
		t.Errorf("modem sent %v", s)
	}
	if errs := f.Probe(ctxT(t)); errs["gsm"] != nil || len(errs) != 1 {
		t.Errorf("probe = %v", errs)
	}
}

// A hung modem that is not the last provider hands the SMS on after
// failover_after, long before its own command deadlines would end the
// attempt.
func TestHungModemFailsOverAfter(t *testing.T) {
	hung := testpeer.StartModem(t)
	first, err := New("gsm-slow", Config{Device: hung.Device(), CommandTimeout: 10 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = first.Close() })
	sim2, second, _ := start(t, "")
	hung.Hang()
	f := &notify.Failover{Channel: "sms", Providers: []notify.Provider{first, second}, FailoverAfter: 500 * time.Millisecond}
	t0 := time.Now()
	got, err := f.Notify(ctxT(t), msg("UPS-2 on battery [a1b2c3d4e5]"))
	took := time.Since(t0)
	t.Logf("hung modem → second modem in %v", took)
	if err != nil || got != "gsm" || len(sim2.Sent()) != 1 {
		t.Fatalf("Notify = %q, %v; second modem sent %v", got, err, sim2.Sent())
	}
	if len(hung.Sent()) != 0 {
		t.Errorf("the hung modem recorded %v", hung.Sent())
	}
	if took > 5*time.Second {
		t.Errorf("took %v: waited on the hung modem (10 s command deadline) beyond failover_after", took)
	}
}
