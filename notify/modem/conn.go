package modem

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"go.bug.st/serial"
)

// ErrHang is wrapped by the error of a command the modem did not finish
// within its deadline.
var ErrHang = errors.New("modem did not answer in time")

// ATError is a final result code other than OK: ERROR, +CME ERROR: n or
// +CMS ERROR: n.
type ATError struct {
	Cmd  string // the command, with any PIN redacted
	Kind string // "ERROR", "CME" or "CMS"
	Code int    // -1 for plain ERROR
}

func (e *ATError) Error() string {
	if e.Kind == "ERROR" {
		return fmt.Sprintf("%s: ERROR", e.Cmd)
	}
	return fmt.Sprintf("%s: +%s ERROR: %d", e.Cmd, e.Kind, e.Code)
}

// conn is one open session on the serial port. A reader goroutine splits
// what the modem writes into lines (and the bare "> " prompt of AT+CMGS),
// so that a command can wait for its answer with a deadline of its own.
type conn struct {
	port  serial.Port
	lines chan string
	done  chan struct{} // closed when the reader has stopped
	stop  chan struct{} // closed by close()
	err   error         // why the reader stopped; read after done
	log   *slog.Logger
	// incoming is signalled (without blocking) on every +CMTI notice: a
	// message arrived on the SIM (Provider.Listen reads it).
	incoming chan<- struct{}
}

// openPort opens the device in 8N1 at baud.
//
// On a pseudo-terminal (the simulated modem in tests) the termios calls
// serial.Open makes succeed on Linux: a pty accepts raw mode and standard
// baud rates, it just ignores the speed. TIOCEXCL works too. Flushing the
// input queue and DTR are best effort, since not every tty driver supports
// them; a failure there is only logged.
func openPort(device string, baud int, incoming chan<- struct{}, log *slog.Logger) (*conn, error) {
	port, err := serial.Open(device, &serial.Mode{BaudRate: baud, DataBits: 8, Parity: serial.NoParity, StopBits: serial.OneStopBit})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", device, err)
	}
	if err := port.ResetInputBuffer(); err != nil {
		log.Debug("modem: flushing input failed", "err", err)
	}
	c := &conn{port: port, lines: make(chan string, 64), done: make(chan struct{}), stop: make(chan struct{}), log: log, incoming: incoming}
	go c.read()
	return c, nil
}

func (c *conn) read() {
	defer close(c.done)
	var line []byte
	buf := make([]byte, 256)
	for {
		n, err := c.port.Read(buf)
		if err != nil {
			c.err = err
			return
		}
		for _, b := range buf[:n] {
			if b == '\r' || b == '\n' {
				if s := strings.TrimSpace(string(line)); s != "" {
					if !c.emit(s) {
						return
					}
				}
				line = line[:0]
				continue
			}
			line = append(line, b)
		}
		// The AT+CMGS prompt "> " ends with no newline.
		if strings.TrimSpace(string(line)) == ">" {
			line = line[:0]
			if !c.emit(">") {
				return
			}
		}
	}
}

func (c *conn) emit(s string) bool {
	if strings.HasPrefix(s, "+CMTI:") && c.incoming != nil {
		select {
		case c.incoming <- struct{}{}:
		default: // a read is already due
		}
	}
	select {
	case c.lines <- s:
		return true
	case <-c.stop:
		return false
	}
}

// close closes the port, which ends the reader's blocked Read.
func (c *conn) close() {
	close(c.stop)
	_ = c.port.Close()
	<-c.done
}

// drain drops what arrived between commands: notices, or a late answer.
func (c *conn) drain() {
	for {
		select {
		case l := <-c.lines:
			c.log.Debug("modem: dropped line between commands", "line", redact(l))
		default:
			return
		}
	}
}

func (c *conn) write(s string) error {
	if _, err := c.port.Write([]byte(s)); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// waitError tells the session why a wait ended without an answer: the
// deadline passed (a hang) or the context ended. Both leave the modem in an
// unknown state, so the session closes the port.
type waitError struct {
	cmd       string
	timeout   time.Duration
	cancelled error
}

func (e *waitError) Error() string {
	if e.cancelled != nil {
		return fmt.Sprintf("%s: %v", e.cmd, e.cancelled)
	}
	return fmt.Sprintf("%s: no answer within %s", e.cmd, e.timeout)
}

func (e *waitError) Unwrap() error {
	if e.cancelled != nil {
		return e.cancelled
	}
	return ErrHang
}

// exec sends cmd (CR-terminated) and waits for its final result code. It
// returns the information lines that start with prefix; every other line
// (the echo, unsolicited notices such as RING or +CMTI) is ignored. The
// deadline is fixed when the command is sent: lines that arrive do not
// extend it (gammu#393).
func (c *conn) exec(ctx context.Context, cmd, prefix string, timeout time.Duration) ([]string, error) {
	c.drain()
	if err := c.write(cmd + "\r"); err != nil {
		return nil, err
	}
	return c.wait(ctx, cmd, prefix, timeout, false)
}

// wait reads lines until a final result code (or, with prompt, the "> "
// prompt) or the deadline.
func (c *conn) wait(ctx context.Context, cmd, prefix string, timeout time.Duration, prompt bool) ([]string, error) {
	shown := redact(cmd)
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var info []string
	for {
		select {
		case <-ctx.Done():
			return nil, &waitError{cmd: shown, cancelled: ctx.Err()}
		case <-timer.C:
			return nil, &waitError{cmd: shown, timeout: timeout}
		case <-c.done:
			return nil, fmt.Errorf("%s: port closed: %v", shown, c.err)
		case l := <-c.lines:
			switch {
			case l == cmd:
				// echo (before ATE0 took effect)
			case l == "OK":
				if prompt {
					return nil, fmt.Errorf("%s: OK instead of the prompt", shown)
				}
				return info, nil
			case l == ">" && prompt:
				return nil, nil
			case l == "ERROR", strings.HasPrefix(l, "+CME ERROR:"), strings.HasPrefix(l, "+CMS ERROR:"):
				return nil, parseError(shown, l)
			case prefix == allLines && !unsolicited(l):
				info = append(info, l)
			case prefix != "" && strings.HasPrefix(l, prefix):
				info = append(info, strings.TrimSpace(l[len(prefix):]))
			default:
				c.log.Debug("modem: ignored line", "cmd", shown, "line", redact(l))
			}
		}
	}
}

// allLines as the prefix of exec keeps every information line (a message
// listing's headers and texts), unsolicited notices excepted.
const allLines = "\x00all"

// unsolicited reports whether a line is a notice a modem may write at any
// time (3GPP TS 27.005/27.007), not part of an answer.
func unsolicited(l string) bool {
	for _, p := range []string{"+CMTI:", "+CDSI:", "+CMT:", "+CDS:", "+CREG:", "+CGREG:", "+CRING:", "RING", "+CLIP:", "+CUSD:", "NO CARRIER"} {
		if strings.HasPrefix(l, p) {
			return true
		}
	}
	return false
}

func parseError(cmd, l string) *ATError {
	e := &ATError{Cmd: cmd, Kind: "ERROR", Code: -1}
	for _, k := range []string{"CME", "CMS"} {
		if rest, ok := strings.CutPrefix(l, "+"+k+" ERROR:"); ok {
			e.Kind = k
			if _, err := fmt.Sscanf(strings.TrimSpace(rest), "%d", &e.Code); err != nil {
				e.Code = -1 // verbose error text (AT+CMEE=2)
			}
		}
	}
	return e
}

var pinCmd = regexp.MustCompile(`(?i)(AT\+CPIN=)"?[^"]*"?`)

// redact hides the PIN of an AT+CPIN= command (also in its echo).
func redact(s string) string {
	return pinCmd.ReplaceAllString(s, `$1"****"`)
}
