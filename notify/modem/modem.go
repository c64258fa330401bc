// Package modem sends SMS through a GSM modem on a serial port: the
// out-of-band path that still works when the uplink is down.
//
// GSM modems hang (gammu#4, #393: stuck on AT+COPS? while unsolicited
// notices kept resetting the timeout). So:
//
//   - one session at a time (a semaphore that honours the context); the
//     port is opened lazily and kept open between messages;
//   - every AT command has a hard deadline, CommandTimeout, fixed when the
//     command is written: notices (RING, +CMTI, +CREG...) are ignored and
//     never extend it. Only the submission of the text (after Ctrl-Z, when
//     the modem talks to the network) gets SubmitFactor × CommandTimeout;
//   - a deadline overrun counts a hang and closes the port (on real
//     hardware that also drops DTR); the next use re-opens it and
//     re-initialises the modem (ESC, AT, ATZ, ATE0, AT+CMEE=1): reset on
//     hang. Any I/O error or a cancelled context does the same, since the
//     modem's state is then unknown;
//   - Probe runs AT, AT+CPIN?, AT+CREG?, AT+CSQ; Run probes every
//     ProbeInterval and logs transitions.
//
// Errors: an invalid number, plain ERROR or a +CMS ERROR that names the
// recipient or the message (21, 28, ...) are permanent; no registration,
// timeouts, hangs and network congestion are temporary. A PIN the SIM
// rejected is never tried again by this Provider (a third wrong PIN blocks
// the SIM): every later send fails permanently until it is re-created.
package modem

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vedetta-dc/vedetta/notify"
)

// ErrNotRegistered is wrapped by the error of a send or probe while the
// modem is not registered on a network (home or roaming).
var ErrNotRegistered = errors.New("modem not registered on the network")

// Provider is a GSM modem as a notify.Provider and notify.Prober.
type Provider struct {
	name string
	cfg  Config
	log  *slog.Logger

	sem chan struct{} // the session: one holder at a time
	// incoming is signalled by the session's +CMTI notices (Listen).
	incoming chan struct{}
	replies  atomic.Bool // replies are read: every SMS says how to acknowledge
	// guarded by sem
	c           *conn
	pinRejected bool

	hangs atomic.Int64
	sigMu sync.Mutex
	rssi  int
	sigOK bool
}

var (
	_ notify.Provider = (*Provider)(nil)
	_ notify.Prober   = (*Provider)(nil)
)

// Name implements notify.Provider.
func (p *Provider) Name() string { return p.name }

// Hangs is how many commands overran their deadline since New.
func (p *Provider) Hangs() int64 { return p.hangs.Load() }

// Signal is the rssi (0..31, 2×rssi−113 dBm) of the last probe; ok is
// false when the last probe got no reading or the modem reported 99
// (unknown).
func (p *Provider) Signal() (rssi int, ok bool) {
	p.sigMu.Lock()
	defer p.sigMu.Unlock()
	return p.rssi, p.sigOK
}

func (p *Provider) setSignal(rssi int, ok bool) {
	p.sigMu.Lock()
	defer p.sigMu.Unlock()
	p.rssi, p.sigOK = rssi, ok
}

// Close closes the port (waiting for a session in progress). A later Send
// or Probe opens it again.
func (p *Provider) Close() error {
	p.sem <- struct{}{}
	defer func() { <-p.sem }()
	p.closeConn()
	return nil
}

// Send implements notify.Provider: one SMS per message, from its subject.
func (p *Provider) Send(ctx context.Context, m notify.Message) error {
	num, err := number(m.Recipient)
	if err != nil {
		return notify.Permanent(fmt.Errorf("modem %s: %w", p.name, err))
	}
	txt, err := buildText(m, p.replies.Load())
	if err != nil {
		return notify.Permanent(fmt.Errorf("modem %s: %w", p.name, err))
	}
	if err := p.lock(ctx); err != nil {
		return err
	}
	defer p.unlock()
	if err := p.open(ctx); err != nil {
		return err
	}
	if err := p.ready(ctx); err != nil {
		return err
	}
	if _, err := p.do(ctx, "AT+CMGF=1", ""); err != nil {
		return temporary(err)
	}
	numArg, body, ucs2, err := p.charset(ctx, num, txt)
	if err != nil {
		return err
	}
	ref, err := p.submit(ctx, numArg, body)
	if err != nil {
		return err
	}
	p.log.Info("sms sent", "to", num, "ref", ref, "ucs2", ucs2, "chars", len([]rune(txt.Text)), "key", m.Key, "alarm", m.AlarmID)
	return nil
}

// Probe implements notify.Prober: AT, AT+CPIN?, AT+CREG?, AT+CSQ. It
// fails when the SIM is not ready, the modem is not registered, or the
// signal is unknown (99) or nil (0).
func (p *Provider) Probe(ctx context.Context) error {
	if err := p.lock(ctx); err != nil {
		return err
	}
	defer p.unlock()
	err := p.probe(ctx)
	if err != nil && !errors.Is(err, errNoSignal) {
		p.setSignal(0, false) // no reading this time
	}
	return err
}

var errNoSignal = errors.New("no signal")

func (p *Provider) probe(ctx context.Context) error {
	if err := p.open(ctx); err != nil {
		return err
	}
	if _, err := p.do(ctx, "AT", ""); err != nil {
		return temporary(err)
	}
	if err := p.ready(ctx); err != nil {
		return err
	}
	info, err := p.do(ctx, "AT+CSQ", "+CSQ:")
	if err != nil {
		return temporary(err)
	}
	rssi, ok := parseCSQ(info)
	if !ok {
		p.setSignal(0, false)
		return notify.Temporary(fmt.Errorf("modem %s: unreadable AT+CSQ answer %q", p.name, info))
	}
	p.setSignal(rssi, rssi != 99)
	if rssi == 99 || rssi == 0 {
		return notify.Temporary(fmt.Errorf("modem %s: %w (+CSQ rssi %d)", p.name, errNoSignal, rssi))
	}
	return nil
}

// Run probes every ProbeInterval (at once first) until ctx ends, and logs
// when the modem becomes unhealthy or healthy again.
func (p *Provider) Run(ctx context.Context) {
	t := time.NewTicker(p.cfg.ProbeInterval)
	defer t.Stop()
	var last error
	first := true
	for {
		err := p.Probe(ctx)
		if ctx.Err() != nil {
			return
		}
		rssi, _ := p.Signal()
		switch {
		case err != nil && (first || last == nil):
			p.log.Warn("modem unhealthy", "err", err, "hangs", p.Hangs())
		case err == nil && (first || last != nil):
			p.log.Info("modem healthy", "rssi", rssi)
		}
		last, first = err, false
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (p *Provider) lock(ctx context.Context) error {
	select {
	case p.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return notify.Temporary(fmt.Errorf("modem %s: waiting for the session: %w", p.name, ctx.Err()))
	}
}

func (p *Provider) unlock() { <-p.sem }

func (p *Provider) closeConn() {
	if p.c != nil {
		p.c.close()
		p.c = nil
	}
}

// open opens the port and initialises the modem unless a session is open.
func (p *Provider) open(ctx context.Context) error {
	if p.c != nil {
		return nil
	}
	c, err := openPort(p.cfg.Device, p.cfg.Baud, p.incoming, p.log)
	if err != nil {
		return notify.Temporary(fmt.Errorf("modem %s: %w", p.name, err))
	}
	p.c = c
	// ESC cancels an AT+CMGS prompt a previous session may have left; the
	// pause lets its answer arrive, to be dropped before the first command.
	if err := c.write("\x1b\r"); err != nil {
		p.closeConn()
		return notify.Temporary(fmt.Errorf("modem %s: %w", p.name, err))
	}
	select {
	case <-time.After(min(100*time.Millisecond, p.cfg.CommandTimeout/3)):
	case <-ctx.Done():
		p.closeConn()
		return notify.Temporary(ctx.Err())
	}
	for _, cmd := range []string{"AT", "ATZ", "ATE0", "AT+CMEE=1"} {
		if _, err := p.do(ctx, cmd, ""); err != nil {
			p.closeConn()
			return temporary(fmt.Errorf("initialising: %w", err))
		}
	}
	p.log.Debug("modem session opened", "hangs", p.Hangs())
	return nil
}

// do runs one command on the open session. An answer from the modem
// (OK or an *ATError) keeps the session; no answer in time, a cancelled
// context or an I/O error closes it (and a missed deadline counts a hang).
func (p *Provider) do(ctx context.Context, cmd, prefix string) ([]string, error) {
	if p.c == nil {
		return nil, notify.Temporary(fmt.Errorf("modem %s: no session", p.name))
	}
	info, err := p.c.exec(ctx, cmd, prefix, p.cfg.CommandTimeout)
	return info, p.check(err)
}

func (p *Provider) check(err error) error {
	if err == nil {
		return nil
	}
	var at *ATError
	if errors.As(err, &at) {
		return err
	}
	if errors.Is(err, ErrHang) {
		n := p.hangs.Add(1)
		p.log.Warn("modem hang: closing the port, it is re-initialised on next use", "err", err, "hangs", n)
	} else {
		p.log.Warn("modem session lost: closing the port", "err", err)
	}
	p.closeConn()
	return notify.Temporary(fmt.Errorf("modem %s: %w", p.name, err))
}

// temporary marks err temporary unless it is already classified.
func temporary(err error) error {
	var ne *notify.Error
	if errors.As(err, &ne) {
		return err
	}
	return notify.Temporary(err)
}

// ready checks the SIM (entering the PIN when asked and configured) and
// the registration.
func (p *Provider) ready(ctx context.Context) error {
	info, err := p.do(ctx, "AT+CPIN?", "+CPIN:")
	if err != nil {
		return simError(err)
	}
	state := ""
	if len(info) > 0 {
		state = info[len(info)-1]
	}
	switch state {
	case "READY":
	case "SIM PIN":
		pin := p.cfg.PIN.Reveal()
		switch {
		case pin == "":
			return notify.Permanent(fmt.Errorf("modem %s: the SIM asks for a PIN and none is configured", p.name))
		case p.pinRejected:
			return notify.Permanent(fmt.Errorf("modem %s: the SIM rejected the configured PIN before; not trying it again", p.name))
		}
		if _, err := p.do(ctx, `AT+CPIN="`+pin+`"`, ""); err != nil {
			var at *ATError
			if errors.As(err, &at) && at.Kind == "CME" && at.Code == 16 {
				p.pinRejected = true
				p.log.Error("SIM rejected the configured PIN; it will not be tried again", "err", err)
				return notify.Permanent(fmt.Errorf("modem %s: %w", p.name, err))
			}
			return simError(err)
		}
		p.log.Info("SIM PIN entered")
	default:
		return notify.Permanent(fmt.Errorf("modem %s: SIM not ready: %q", p.name, state))
	}
	info, err = p.do(ctx, "AT+CREG?", "+CREG:")
	if err != nil {
		return temporary(err)
	}
	stat, ok := parseCREG(info)
	if !ok {
		return notify.Temporary(fmt.Errorf("modem %s: unreadable AT+CREG? answer %q", p.name, info))
	}
	if stat != 1 && stat != 5 {
		return notify.Temporary(fmt.Errorf("modem %s: %w (+CREG stat %d)", p.name, ErrNotRegistered, stat))
	}
	return nil
}

// simError: SIM missing, failed or blocked is permanent (+CME ERROR 10..18);
// the rest (SIM busy after boot, hangs) temporary.
func simError(err error) error {
	var at *ATError
	if errors.As(err, &at) && at.Kind == "CME" && at.Code >= 10 && at.Code <= 18 && at.Code != 14 {
		return notify.Permanent(err)
	}
	return temporary(err)
}

// charset sets the character set and data coding for txt and returns the
// number and text in it.
func (p *Provider) charset(ctx context.Context, num string, txt smsText) (numArg, body string, ucs2 bool, err error) {
	text := txt.Text
	if txt.UCS2 {
		_, err := p.do(ctx, `AT+CSCS="UCS2"`, "")
		if err == nil {
			_, err = p.do(ctx, "AT+CSMP=17,167,0,8", "")
		}
		if err == nil {
			return ucs2Hex(num), ucs2Hex(text), true, nil
		}
		var at *ATError
		if !errors.As(err, &at) {
			return "", "", false, err
		}
		p.log.Warn("modem refuses UCS-2: sending a GSM-7 transliteration", "err", err)
		text = txt.gsmFallback()
	}
	for _, cmd := range []string{`AT+CSCS="IRA"`, "AT+CSMP=17,167,0,0"} {
		if _, err := p.do(ctx, cmd, ""); err != nil {
			var at *ATError
			if !errors.As(err, &at) {
				return "", "", false, err
			}
			p.log.Debug("modem: setting ignored", "err", err)
		}
	}
	return num, text, false, nil
}

// submit runs AT+CMGS: the command, the "> " prompt, the text and Ctrl-Z,
// then +CMGS: ref and OK.
func (p *Provider) submit(ctx context.Context, numArg, body string) (int, error) {
	cmd := `AT+CMGS="` + numArg + `"`
	p.c.drain()
	if err := p.c.write(cmd + "\r"); err != nil {
		return 0, p.check(err)
	}
	if _, err := p.c.wait(ctx, cmd, "", p.cfg.CommandTimeout, true); err != nil {
		return 0, sendError(p.check(err))
	}
	if err := p.c.write(body + "\x1a"); err != nil {
		return 0, p.check(err)
	}
	timeout := SubmitFactor * p.cfg.CommandTimeout
	info, err := p.c.wait(ctx, "AT+CMGS text", "+CMGS:", timeout, false)
	if err != nil {
		if !errors.As(err, new(*ATError)) {
			p.log.Warn("no answer to the submitted text: the SMS may have been sent", "err", err)
		}
		return 0, sendError(p.check(err))
	}
	ref := -1
	if len(info) > 0 {
		if n, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(info[0], ",", 2)[0])); err == nil {
			ref = n
		}
	}
	return ref, nil
}

// temporaryCMS are the +CMS ERROR codes worth retrying (3GPP TS 27.005
// 3.2.5 and TS 24.011 E-2): network out of order, temporary failure,
// congestion, resources unavailable, protocol error, ME failure, SIM busy,
// memory problems, no network service, network timeout, unknown error and
// the manufacturer-specific range.
var temporaryCMS = map[int]bool{38: true, 41: true, 42: true, 47: true, 111: true, 127: true,
	300: true, 314: true, 320: true, 322: true, 331: true, 332: true, 500: true}

// sendError classifies an answer to AT+CMGS: plain ERROR and the codes
// that name the recipient or message (1 unassigned number, 21 transfer
// rejected, 28 unidentified subscriber, 304 invalid parameter...) are
// permanent.
func sendError(err error) error {
	var at *ATError
	if !errors.As(err, &at) {
		return temporary(err)
	}
	switch {
	case at.Kind == "ERROR":
		return notify.Permanent(err)
	case at.Kind == "CMS" && (temporaryCMS[at.Code] || at.Code >= 512 || at.Code < 0):
		return notify.Temporary(err)
	case at.Kind == "CMS":
		return notify.Permanent(err)
	default: // +CME ERROR
		return simError(err)
	}
}

// parseCREG reads the stat of an AT+CREG? answer ("n,stat[,lac,ci]"). An
// unsolicited +CREG ("stat[,\"lac\",\"ci\"]") that slipped in is skipped:
// its second field, if any, is quoted.
func parseCREG(info []string) (int, bool) {
	for i := len(info) - 1; i >= 0; i-- {
		f := strings.Split(info[i], ",")
		if len(f) < 2 {
			continue
		}
		if stat, err := strconv.Atoi(strings.TrimSpace(f[1])); err == nil {
			return stat, true
		}
	}
	return 0, false
}

// parseCSQ reads the rssi of "+CSQ: rssi,ber".
func parseCSQ(info []string) (int, bool) {
	if len(info) == 0 {
		return 0, false
	}
	f := strings.Split(info[len(info)-1], ",")
	rssi, err := strconv.Atoi(strings.TrimSpace(f[0]))
	if err != nil || rssi < 0 || (rssi > 31 && rssi != 99) {
		return 0, false
	}
	return rssi, true
}
