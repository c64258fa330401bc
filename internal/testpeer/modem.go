package testpeer

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// SMS is one message the simulated modem accepted.
type SMS struct {
	Number string
	Text   string
}

// Modem is a simulated GSM modem answering AT commands on the master side
// of a pseudo-terminal. Code under test opens Device() (the pty slave, e.g.
// /dev/pts/7) exactly like a real /dev/ttyUSB0.
//
// It speaks the subset of 3GPP TS 27.007/27.005 a notifier needs: AT, ATZ,
// ATE0/ATE1, AT+CMEE, AT+CPIN?/AT+CPIN="…", AT+CREG?, AT+CSQ, AT+CMGF,
// AT+CSCS, AT+CSMP and AT+CMGS (with the "> " prompt, Ctrl-Z to submit and
// ESC to cancel); for incoming messages (Deliver) the +CMTI notice and, in
// text mode, AT+CMGL, AT+CMGR and AT+CMGD. Unknown commands answer ERROR. Echo is on until ATE0, as
// on a real modem after power-up or ATZ.
//
// Misbehaviour on request: Hang, FailSend, Unregister, RequirePIN, SetSignal,
// RefuseUCS2, HangOnSubmit,
// unsolicited lines (Unsolicited, SetNotices). Reset returns to normal.
type Modem struct {
	t      testing.TB
	master *os.File
	slave  *os.File // kept open so the master never sees EIO between opens
	device string

	mu          sync.Mutex
	echo        bool
	cmee        int
	cmgf        int
	cscs        string
	hang        bool
	noUCS2      bool
	noIRA       bool
	hangSubmit  bool
	failSend    string // "" normal, else the final line answered to a submission
	creg        int
	rssi        int
	pin         string // required PIN; "" = none
	locked      bool
	pinAttempts int
	notices     []string
	commands    []string
	sent        []SMS
	ref         int
	inbox       []stored // incoming messages on the SIM, by index
	nextIndex   int
	wmu         sync.Mutex
}

// stored is an incoming message kept on the SIM.
type stored struct {
	index      int
	from, text string
	read       bool
}

// StartModem opens a pty pair and answers AT commands on it until the test
// ends.
func StartModem(t testing.TB) *Modem {
	t.Helper()
	master, slave, err := pty.Open()
	if err != nil {
		t.Fatalf("modem: open pty: %v", err)
	}
	// Raw mode on the slave: no echo or line editing by the line discipline
	// (the modem's own echo is simulated below).
	if tio, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS); err == nil {
		tio.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
		tio.Oflag &^= unix.OPOST
		tio.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
		tio.Cflag &^= unix.CSIZE | unix.PARENB
		tio.Cflag |= unix.CS8
		_ = unix.IoctlSetTermios(int(slave.Fd()), unix.TCSETS, tio)
	}
	m := &Modem{t: t, master: master, slave: slave, device: slave.Name(), echo: true, creg: 1, rssi: 20, cscs: "IRA", ref: 11}
	done := make(chan struct{})
	go func() { defer close(done); m.loop() }()
	t.Cleanup(func() {
		_ = master.Close()
		_ = slave.Close()
		<-done
	})
	return m
}

// Device is the serial device path to open (the pty slave).
func (m *Modem) Device() string { return m.device }

// Hang makes the modem stop answering (it still reads and records).
func (m *Modem) Hang() { m.set(func() { m.hang = true }) }

// FailSend makes submissions fail: code < 0 answers plain ERROR, otherwise
// "+CMS ERROR: code" (e.g. 21 short message transfer rejected, 28
// unidentified subscriber, 38 network out of order).
func (m *Modem) FailSend(code int) {
	m.set(func() {
		m.failSend = "ERROR"
		if code >= 0 {
			m.failSend = fmt.Sprintf("+CMS ERROR: %d", code)
		}
	})
}

// Unregister makes AT+CREG? answer "+CREG: 0,0" (not registered, not
// searching).
func (m *Modem) Unregister() { m.SetRegistration(0) }

// SetRegistration sets the stat AT+CREG? answers (1 home, 5 roaming, 2
// searching, 3 denied).
func (m *Modem) SetRegistration(stat int) { m.set(func() { m.creg = stat }) }

// SetSignal sets the rssi AT+CSQ answers (0..31, 99 unknown).
func (m *Modem) SetSignal(rssi int) { m.set(func() { m.rssi = rssi }) }

// RequirePIN locks the SIM until AT+CPIN="pin" is entered.
func (m *Modem) RequirePIN(pin string) { m.set(func() { m.pin, m.locked = pin, true }) }

// SetNotices makes the modem write these unsolicited lines before every
// answer (nil stops it).
func (m *Modem) SetNotices(lines ...string) { m.set(func() { m.notices = lines }) }

// HangOnSubmit makes the modem give the "> " prompt but never answer the
// submitted text (nor record it): stuck while talking to the network.
func (m *Modem) HangOnSubmit() { m.set(func() { m.hangSubmit = true }) }

// RefuseUCS2 makes AT+CSCS="UCS2" answer +CME ERROR: 4 (not supported),
// as on modems without UCS-2 text mode.
func (m *Modem) RefuseUCS2() { m.set(func() { m.noUCS2 = true }) }

// RefuseIRA makes AT+CSCS="IRA" and "GSM" answer +CME ERROR: 4, as on a
// modem that speaks UCS-2 only.
func (m *Modem) RefuseIRA() { m.set(func() { m.noIRA = true }) }

// Reset returns to normal behaviour: answering, sends succeed, registered
// at home, signal 20, SIM unlocked, no notices. Recorded history is kept.
func (m *Modem) Reset() {
	m.set(func() {
		m.hang, m.failSend, m.creg, m.rssi, m.noUCS2, m.hangSubmit = false, "", 1, 20, false, false
		m.pin, m.locked, m.notices = "", false, nil
	})
}

// Unsolicited writes one unsolicited result line now, even while hung (a
// hung modem that still emits notices is the gammu#393 case).
func (m *Modem) Unsolicited(line string) { m.write("\r\n" + line + "\r\n") }

// Deliver puts an incoming SMS on the SIM and announces it with
// `+CMTI: "SM",<index>`, as a modem does when a message arrives (the
// notice comes even while hung, like other unsolicited lines).
func (m *Modem) Deliver(from, text string) int {
	m.mu.Lock()
	m.nextIndex++
	idx := m.nextIndex
	m.inbox = append(m.inbox, stored{index: idx, from: from, text: text})
	m.mu.Unlock()
	m.Unsolicited(fmt.Sprintf(`+CMTI: "SM",%d`, idx))
	return idx
}

// DeliverQuietly puts an incoming SMS on the SIM without a notice (one
// that arrived while the port was closed).
func (m *Modem) DeliverQuietly(from, text string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.nextIndex++
	m.inbox = append(m.inbox, stored{index: m.nextIndex, from: from, text: text})
}

// Inbox is what is still stored on the SIM (not deleted by AT+CMGD).
func (m *Modem) Inbox() []SMS {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []SMS
	for _, st := range m.inbox {
		out = append(out, SMS{Number: st.from, Text: st.text})
	}
	return out
}

// listInbox answers AT+CMGL in text mode (marking what it lists read).
// Caller holds mu.
func (m *Modem) listInbox(which string) []string {
	var out []string
	for i := range m.inbox {
		st := &m.inbox[i]
		status := "REC READ"
		if !st.read {
			status = "REC UNREAD"
		}
		if which != "ALL" && which != status {
			continue
		}
		out = append(out, fmt.Sprintf(`+CMGL: %d,"%s","%s",,"26/12/01,15:04:05+04"`, st.index, status, m.encode(st.from)), m.encode(st.text))
		st.read = true
	}
	return append(out, "OK")
}

// encode writes a string parameter in the current character set.
func (m *Modem) encode(s string) string {
	if m.cscs != "UCS2" {
		return s
	}
	var b strings.Builder
	for _, u := range utf16.Encode([]rune(s)) {
		fmt.Fprintf(&b, "%04X", u)
	}
	return b.String()
}

// Sent returns the messages accepted so far.
func (m *Modem) Sent() []SMS {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]SMS(nil), m.sent...)
}

// Commands returns every command line received, in order.
func (m *Modem) Commands() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.commands...)
}

// Count returns how many received commands equal cmd.
func (m *Modem) Count(cmd string) int {
	n := 0
	for _, c := range m.Commands() {
		if c == cmd {
			n++
		}
	}
	return n
}

// PINAttempts is how many AT+CPIN="…" were received.
func (m *Modem) PINAttempts() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.pinAttempts
}

func (m *Modem) set(f func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f()
}

func (m *Modem) write(s string) {
	m.wmu.Lock()
	defer m.wmu.Unlock()
	_ = m.master.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = m.master.Write([]byte(s))
}

// loop reads commands: lines ending in CR in command mode; after AT+CMGS
// the text up to Ctrl-Z (submit) or ESC (cancel).
func (m *Modem) loop() {
	var line bytes.Buffer
	prompt := "" // number of a pending AT+CMGS; "" in command mode
	inPrompt := false
	buf := make([]byte, 512)
	for {
		n, err := m.master.Read(buf)
		if err != nil {
			return
		}
		for _, c := range buf[:n] {
			switch {
			case inPrompt && c == 0x1a:
				m.submit(prompt, line.String())
				line.Reset()
				inPrompt = false
			case inPrompt && c == 0x1b:
				line.Reset()
				inPrompt = false
				m.answer("OK")
			case inPrompt:
				line.WriteByte(c)
				if m.echoOn() {
					m.write(string(c))
				}
			case c == 0x1b:
				line.Reset()
			case c == '\r':
				cmd := strings.TrimSpace(line.String())
				line.Reset()
				if cmd == "" {
					continue
				}
				if num, ok := m.command(cmd); ok {
					prompt, inPrompt = num, true
				}
			case c == '\n':
			default:
				line.WriteByte(c)
			}
		}
	}
}

func (m *Modem) echoOn() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.echo && !m.hang
}

// answer writes the pending notices, then the response lines.
func (m *Modem) answer(lines ...string) {
	m.mu.Lock()
	notices := m.notices
	m.mu.Unlock()
	var b strings.Builder
	for _, n := range notices {
		b.WriteString("\r\n" + n + "\r\n")
	}
	for _, l := range lines {
		b.WriteString("\r\n" + l + "\r\n")
	}
	m.write(b.String())
}

func (m *Modem) cmeError(code int) string {
	if m.cmee == 0 {
		return "ERROR"
	}
	return fmt.Sprintf("+CME ERROR: %d", code)
}

func (m *Modem) cmsError(code int) string {
	if m.cmee == 0 {
		return "ERROR"
	}
	return fmt.Sprintf("+CMS ERROR: %d", code)
}

// command handles one command line; it reports the number when the modem
// entered the "> " prompt of AT+CMGS.
func (m *Modem) command(cmd string) (string, bool) {
	m.mu.Lock()
	m.commands = append(m.commands, cmd)
	if m.hang {
		m.mu.Unlock()
		return "", false
	}
	echo := m.echo
	m.mu.Unlock()
	if echo {
		m.write(cmd + "\r")
	}
	up := strings.ToUpper(cmd)
	m.mu.Lock()
	var out []string
	prompt, number := false, ""
	switch {
	case up == "AT":
		out = []string{"OK"}
	case up == "ATZ":
		m.echo, m.cmee, m.cmgf, m.cscs = true, 0, 0, "IRA"
		out = []string{"OK"}
	case up == "ATE0" || up == "ATE1":
		m.echo = up == "ATE1"
		out = []string{"OK"}
	case strings.HasPrefix(up, "AT+CMEE="):
		m.cmee, _ = strconv.Atoi(up[len("AT+CMEE="):])
		out = []string{"OK"}
	case up == "AT+CPIN?":
		if m.locked {
			out = []string{"+CPIN: SIM PIN", "OK"}
		} else {
			out = []string{"+CPIN: READY", "OK"}
		}
	case strings.HasPrefix(up, "AT+CPIN="):
		m.pinAttempts++
		pin := strings.Trim(cmd[len("AT+CPIN="):], `"`)
		switch {
		case !m.locked:
			out = []string{m.cmeError(3)}
		case pin == m.pin:
			m.locked = false
			out = []string{"OK"}
		default:
			out = []string{m.cmeError(16)}
		}
	case up == "AT+CREG?":
		out = []string{fmt.Sprintf("+CREG: 0,%d", m.creg), "OK"}
	case up == "AT+CSQ":
		out = []string{fmt.Sprintf("+CSQ: %d,99", m.rssi), "OK"}
	case strings.HasPrefix(up, "AT+CMGF="):
		m.cmgf, _ = strconv.Atoi(up[len("AT+CMGF="):])
		out = []string{"OK"}
	case strings.HasPrefix(up, "AT+CSCS="):
		cs := strings.Trim(up[len("AT+CSCS="):], `"`)
		if (cs == "IRA" || cs == "GSM") && !m.noIRA || (cs == "UCS2" && !m.noUCS2) {
			m.cscs = cs
			out = []string{"OK"}
		} else {
			out = []string{m.cmeError(4)}
		}
	case strings.HasPrefix(up, "AT+CSMP="):
		out = []string{"OK"}
	case strings.HasPrefix(up, "AT+CMGL"):
		which := "REC UNREAD" // the default <stat> in text mode
		if _, arg, ok := strings.Cut(up, "="); ok {
			which = strings.Trim(arg, `"`)
		}
		if m.cmgf != 1 {
			out = []string{m.cmsError(302)}
		} else {
			out = m.listInbox(which)
		}
	case strings.HasPrefix(up, "AT+CMGR="), strings.HasPrefix(up, "AT+CMGD="):
		idx, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(up[len("AT+CMGX="):], ",", 2)[0]))
		out = []string{m.cmsError(321)} // invalid memory index
		for i := range m.inbox {
			st := &m.inbox[i]
			if err != nil || st.index != idx {
				continue
			}
			if up[6] == 'D' {
				m.inbox = append(m.inbox[:i], m.inbox[i+1:]...)
				out = []string{"OK"}
				break
			}
			status := "REC READ"
			if !st.read {
				status = "REC UNREAD"
			}
			st.read = true
			out = []string{fmt.Sprintf(`+CMGR: "%s","%s",,"26/12/01,15:04:05+04"`, status, m.encode(st.from)), m.encode(st.text), "OK"}
			break
		}
	case strings.HasPrefix(up, "AT+CMGS="):
		arg := strings.Trim(cmd[len("AT+CMGS="):], `"`)
		if i := strings.IndexByte(arg, ','); i >= 0 {
			arg = strings.Trim(arg[:i], `"`)
		}
		switch {
		case m.locked:
			out = []string{m.cmsError(311)}
		case m.creg != 1 && m.creg != 5:
			out = []string{m.cmsError(331)}
		case m.cmgf != 1:
			out = []string{m.cmsError(302)}
		default:
			number, prompt = m.decode(arg), true
		}
	default:
		out = []string{"ERROR"}
	}
	m.mu.Unlock()
	if prompt {
		m.write("\r\n> ")
		return number, true
	}
	m.answer(out...)
	return "", false
}

// decode reads a string parameter in the current character set.
func (m *Modem) decode(s string) string {
	if m.cscs != "UCS2" {
		return s
	}
	b, err := hex.DecodeString(s)
	if err != nil || len(b)%2 != 0 {
		return "<bad UCS2 hex: " + s + ">"
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
	}
	return string(utf16.Decode(u))
}

func (m *Modem) submit(number, text string) {
	m.mu.Lock()
	if m.hang || m.hangSubmit {
		m.mu.Unlock()
		return
	}
	fail := m.failSend
	var out []string
	if fail != "" {
		out = []string{fail}
	} else {
		m.ref++
		m.sent = append(m.sent, SMS{Number: number, Text: m.decode(text)})
		out = []string{fmt.Sprintf("+CMGS: %d", m.ref), "OK"}
	}
	m.mu.Unlock()
	m.answer(out...)
}
