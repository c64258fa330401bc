package nut

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"
)

// maxLine bounds one protocol line; upsd's own limit is far lower.
const maxLine = 64 << 10

// maxListItems bounds one LIST answer so that a broken server cannot make
// the collector grow without end.
const maxListItems = 10000

// ProtocolError is an answer that upsd should not have given (or an ERR).
type ProtocolError struct {
	Cmd  string
	Line string
	Msg  string
}

func (e *ProtocolError) Error() string {
	if e.Line == "" {
		return fmt.Sprintf("upsd %s: %s", e.Cmd, e.Msg)
	}
	return fmt.Sprintf("upsd %s: %s: %q", e.Cmd, e.Msg, truncate(e.Line, 120))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// SplitLine splits one upsd protocol line into words. Words are separated
// by spaces; a word may be double-quoted, with \" and \\ escapes inside.
func SplitLine(line string) ([]string, error) {
	var words []string
	i := 0
	for i < len(line) {
		for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
			i++
		}
		if i >= len(line) {
			break
		}
		if line[i] != '"' {
			j := i
			for j < len(line) && line[j] != ' ' && line[j] != '\t' {
				if line[j] == '"' {
					return nil, fmt.Errorf("quote inside a bare word at column %d", j+1)
				}
				j++
			}
			words = append(words, line[i:j])
			i = j
			continue
		}
		var b strings.Builder
		i++
		closed := false
		for i < len(line) {
			c := line[i]
			if c == '\\' && i+1 < len(line) {
				b.WriteByte(line[i+1])
				i += 2
				continue
			}
			if c == '"' {
				closed = true
				i++
				break
			}
			b.WriteByte(c)
			i++
		}
		if !closed {
			return nil, errors.New("unterminated quoted word")
		}
		if i < len(line) && line[i] != ' ' && line[i] != '\t' {
			return nil, fmt.Errorf("text right after a closing quote at column %d", i+1)
		}
		words = append(words, b.String())
	}
	return words, nil
}

// quote renders an argument for a command line we send.
func quote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\"\\\n") {
		return s
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// conn is one session with upsd. Not safe for concurrent use.
type conn struct {
	nc   net.Conn
	r    *bufio.Reader
	stop func() bool
}

func dial(ctx context.Context, address string) (*conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", address)
	if err != nil {
		return nil, err
	}
	c := &conn{nc: nc}
	c.r = bufio.NewReaderSize(nc, 4096)
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	// Unblock reads when ctx is cancelled without a deadline.
	c.stop = context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	return c, nil
}

func (c *conn) Close() error {
	c.stop()
	return c.nc.Close()
}

func (c *conn) send(cmd string) error {
	_, err := c.nc.Write([]byte(cmd + "\n"))
	return err
}

// readLine reads one line, without its end.
func (c *conn) readLine(cmd string) (string, error) {
	line, err := readBoundedLine(c.r)
	if err != nil {
		if errors.Is(err, errLineTooLong) {
			return "", &ProtocolError{Cmd: cmd, Msg: "answer line too long"}
		}
		if isClosed(err) {
			return "", &ProtocolError{Cmd: cmd, Msg: "connection closed by upsd before the answer was complete"}
		}
		return "", fmt.Errorf("upsd %s: %w", cmd, err)
	}
	return line, nil
}

func isClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET)
}

var errLineTooLong = errors.New("line too long")

func readBoundedLine(r *bufio.Reader) (string, error) {
	var b []byte
	for {
		frag, err := r.ReadSlice('\n')
		b = append(b, frag...)
		if len(b) > maxLine {
			return "", errLineTooLong
		}
		if err == nil {
			break
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		return "", err
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// simple sends cmd and expects "OK..." back.
func (c *conn) simple(cmd, shown string) (string, error) {
	if err := c.send(cmd); err != nil {
		return "", fmt.Errorf("upsd %s: %w", shown, err)
	}
	line, err := c.readLine(shown)
	if err != nil {
		return "", err
	}
	if strings.HasPrefix(line, "ERR ") || line == "ERR" {
		return line, &ProtocolError{Cmd: shown, Line: line, Msg: "refused"}
	}
	if !strings.HasPrefix(line, "OK") {
		return line, &ProtocolError{Cmd: shown, Line: line, Msg: "unexpected answer"}
	}
	return line, nil
}

// startTLS asks for TLS. offered is false when upsd answers that it has no
// TLS configured (the session then stays usable in clear text).
func (c *conn) startTLS(ctx context.Context, cfg *tls.Config) (offered bool, err error) {
	line, err := c.simple("STARTTLS", "STARTTLS")
	if err != nil {
		var pe *ProtocolError
		if errors.As(err, &pe) && (strings.Contains(line, "FEATURE-NOT-CONFIGURED") ||
			strings.Contains(line, "FEATURE-NOT-SUPPORTED") || strings.Contains(line, "UNKNOWN-COMMAND")) {
			return false, nil
		}
		return false, err
	}
	tc := tls.Client(c.nc, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return true, fmt.Errorf("upsd STARTTLS handshake: %w", err)
	}
	c.nc = tc
	c.r = bufio.NewReaderSize(tc, 4096)
	return true, nil
}

// list runs "LIST <what> <args>" and returns the words of every item line
// after the item type (e.g. for LIST VAR ups: [ups, name, value]).
func (c *conn) list(what string, args ...string) ([][]string, error) {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = quote(a)
	}
	query := strings.TrimSpace(what + " " + strings.Join(q, " "))
	cmd := "LIST " + query
	if err := c.send(cmd); err != nil {
		return nil, fmt.Errorf("upsd %s: %w", cmd, err)
	}
	return readList(c.r, cmd, query, what)
}

// readList reads a LIST answer: BEGIN LIST <query>, items, END LIST <query>.
func readList(r *bufio.Reader, cmd, query, item string) ([][]string, error) {
	read := func() (string, error) {
		line, err := readBoundedLine(r)
		if err != nil {
			if errors.Is(err, errLineTooLong) {
				return "", &ProtocolError{Cmd: cmd, Msg: "answer line too long"}
			}
			if isClosed(err) {
				return "", &ProtocolError{Cmd: cmd, Msg: "connection closed by upsd before the list was complete"}
			}
			return "", fmt.Errorf("upsd %s: %w", cmd, err)
		}
		return line, nil
	}
	line, err := read()
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(line, "ERR") {
		return nil, &ProtocolError{Cmd: cmd, Line: line, Msg: "refused"}
	}
	if !sameWords(line, "BEGIN LIST "+query) {
		return nil, &ProtocolError{Cmd: cmd, Line: line, Msg: "expected BEGIN LIST"}
	}
	var items [][]string
	for {
		line, err := read()
		if err != nil {
			return items, err
		}
		if sameWords(line, "END LIST "+query) {
			return items, nil
		}
		words, err := SplitLine(line)
		if err != nil {
			return items, &ProtocolError{Cmd: cmd, Line: line, Msg: err.Error()}
		}
		if len(words) < 2 || words[0] != item {
			return items, &ProtocolError{Cmd: cmd, Line: line, Msg: "unexpected line in list"}
		}
		if len(items) >= maxListItems {
			return items, &ProtocolError{Cmd: cmd, Msg: "list too long"}
		}
		items = append(items, words[1:])
	}
}

// sameWords compares two lines word by word (quotes and runs of spaces
// do not matter).
func sameWords(a, b string) bool {
	wa, err := SplitLine(a)
	if err != nil {
		return false
	}
	wb, _ := SplitLine(b)
	if len(wa) != len(wb) {
		return false
	}
	for i := range wa {
		if wa[i] != wb[i] {
			return false
		}
	}
	return true
}
