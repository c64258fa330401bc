package snmp

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/vedetta-dc/vedetta/internal/snmpwire"
)

// client is one gosnmp session. It is owned by one goroutine at a time
// (gosnmp is not safe for concurrent use of one instance): the collector
// holds it under its own mutex.
//
// The poll's requests (getInto, walk, walkColumns) go through exchange:
// for v1 and v2c, gosnmp encodes the request, and the answer is read here,
// on gosnmp's socket, and decoded by snmpwire into the client's reused
// Message, with no allocation per varbind; the retries, timeouts, context
// deadline and request-ID matching are gosnmp's, redone here (exchange).
// SNMPv3 stays with gosnmp from end to end (engine discovery, auth, priv,
// time window), and its answers are converted. Detection (get, getNext)
// uses gosnmp as well: once per detection, not per poll.
type client struct {
	g         *gosnmp.GoSNMP
	agent     *Agent
	maxRep    uint32 // current GETBULK max-repetitions, lowered on tooBig/timeouts
	colStep   int    // columns per GETBULK (max_oids), lowered on tooBig/timeouts at one repetition
	getStep   int    // OIDs per GET (max_oids), halved for the session on tooBig
	answered  bool   // the agent has answered at least once on this session
	connected bool   // gosnmp's Connect was called (gosnmpReady)
	requests  int    // PDUs sent (for tests and benchmarks)
	received  int    // varbinds received in answers (for tests and benchmarks)

	rx    []byte           // exchange: the receive buffer (one datagram at most), the view's during a fetch
	msg   snmpwire.Message // exchange: the last answer, decoded
	reqID uint32           // exchange: the last request ID sent
	ids   []uint32         // exchange: the request IDs of this exchange's tries
	vars  []gosnmp.SnmpPDU // exchange: the request's varbinds
	oids  []string         // walkColumns: the request's OIDs

	interns *interns // the texts and label sets of this target's polls (view.go; nil: the view's own)
}

// dial prepares a session; with UDP nothing is sent yet. A v1/v2c
// session opens only its socket: gosnmp's Connect (its 64 KiB receive
// buffer, made anew for each session, and a session lasts one poll) waits
// until a detection asks gosnmp itself (gosnmpReady).
func dial(a *Agent) (*client, error) {
	g, err := a.gosnmp()
	if err != nil {
		return nil, err
	}
	c := &client{g: g, agent: a, maxRep: a.MaxRepetitions, reqID: rand.Uint32N(1 << 30)}
	if g.Version == gosnmp.Version3 {
		if err := c.gosnmpReady(); err != nil {
			return nil, err
		}
	} else {
		if g.MaxOids <= 0 {
			g.MaxOids = gosnmp.MaxOids // what Connect would set
		}
		d := net.Dialer{Timeout: g.Timeout}
		if g.Conn, err = d.Dial(g.Transport, net.JoinHostPort(g.Target, strconv.Itoa(int(g.Port)))); err != nil {
			return nil, fmt.Errorf("snmp %s: error establishing connection to host: %w", a.Address, err)
		}
	}
	c.colStep, c.getStep = g.MaxOids, g.MaxOids
	return c, nil
}

// gosnmpReady connects gosnmp itself (once per session), for the requests
// it still sends and receives: all of SNMPv3's, and detection's. For
// v1/v2c the socket dial opened is replaced by gosnmp's.
func (c *client) gosnmpReady() error {
	if c.connected {
		return nil
	}
	if c.g.Conn != nil {
		_ = c.g.Conn.Close()
		c.g.Conn = nil
	}
	if err := c.g.Connect(); err != nil {
		return fmt.Errorf("snmp %s: %w", c.agent.Address, err)
	}
	c.connected = true
	return nil
}

// errEmptyAnswer: an answer without an error nor a varbind (gosnmp
// rejects it and sends again).
var errEmptyAnswer = errors.New("empty answer")

// exchange sends one request (GET, GETNEXT, or GETBULK with reps
// repetitions and no non-repeaters) and returns the agent's answer, valid
// until the next exchange. Like gosnmp: each try gets a new request ID
// and the request timeout (cut at the context's deadline, which then ends
// the exchange); an answer to any of this exchange's tries (or with ID 0)
// is taken; an earlier request's late answer, and a datagram that does
// not decode, are skipped.
func (c *client) exchange(ctx context.Context, t gosnmp.PDUType, oids []string, reps uint32) (*snmpwire.Message, error) {
	if c.g.Version == gosnmp.Version3 {
		return c.exchangeV3(ctx, t, oids, reps)
	}
	if len(oids) > c.g.MaxOids {
		return nil, fmt.Errorf("oid count (%d) is greater than MaxOids (%d)", len(oids), c.g.MaxOids)
	}
	if c.rx == nil {
		c.rx = make([]byte, 65536) // fetch lends the view's
	}
	c.vars = c.vars[:0]
	for _, o := range oids {
		c.vars = append(c.vars, gosnmp.SnmpPDU{Name: o, Type: gosnmp.Null})
	}
	req := gosnmp.SnmpPacket{Version: c.g.Version, Community: c.g.Community, PDUType: t, Variables: c.vars}
	if t == gosnmp.GetBulkRequest {
		req.MaxRepetitions = reps & 0x7FFFFFFF
	}
	timeout := c.g.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	c.ids = c.ids[:0]
	var err error
	for try := 0; try <= max(c.g.Retries, 0); try++ {
		if e := ctx.Err(); e != nil {
			return nil, e
		}
		deadline, byCtx := time.Now().Add(timeout), false
		if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
			deadline, byCtx = d, true
		}
		if err := c.g.Conn.SetDeadline(deadline); err != nil {
			return nil, err
		}
		c.reqID = (c.reqID + 1) & 0x7FFFFFFF
		c.ids = append(c.ids, c.reqID)
		req.RequestID = c.reqID
		out, merr := req.MarshalMsg()
		if merr != nil {
			return nil, fmt.Errorf("marshal: %w", merr)
		}
		if _, err = c.g.Conn.Write(out); err != nil {
			continue
		}
		var m *snmpwire.Message
		if m, err = c.receive(); err == nil {
			return m, nil
		}
		if byCtx && isNetTimeout(err) {
			return nil, context.DeadlineExceeded
		}
	}
	if isNetTimeout(err) {
		return nil, fmt.Errorf("request timeout (after %d retries): %w", max(c.g.Retries, 0), gosnmp.ErrMaxRetriesExceeded)
	}
	return nil, err
}

// receive reads datagrams until one answers this exchange, or the
// socket's deadline passes.
func (c *client) receive() (*snmpwire.Message, error) {
	for {
		n, err := c.g.Conn.Read(c.rx)
		if err != nil {
			return nil, fmt.Errorf("error reading from socket: %w", err)
		}
		if n == len(c.rx) {
			continue // cannot be a whole SNMP datagram
		}
		if c.msg.Decode(c.rx[:n]) != nil {
			continue // not an answer (gosnmp would resend at once; the deadline stands)
		}
		if !c.answers(c.msg.RequestID) {
			continue // a late answer to an earlier request
		}
		if c.msg.Error == gosnmp.NoError && len(c.msg.Varbinds) == 0 {
			return nil, errEmptyAnswer
		}
		return &c.msg, nil
	}
}

func (c *client) answers(id uint32) bool {
	if id == 0 {
		return true // gosnmp takes it: agents that cannot echo the ID
	}
	for _, x := range c.ids {
		if x == id {
			return true
		}
	}
	return false
}

func isNetTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// exchangeV3 is exchange by gosnmp (SNMPv3), its answer converted.
func (c *client) exchangeV3(ctx context.Context, t gosnmp.PDUType, oids []string, reps uint32) (*snmpwire.Message, error) {
	c.g.Context = ctx
	var pkt *gosnmp.SnmpPacket
	var err error
	switch t {
	case gosnmp.GetRequest:
		pkt, err = c.g.Get(oids)
	case gosnmp.GetNextRequest:
		pkt, err = c.g.GetNext(oids)
	default:
		pkt, err = c.g.GetBulk(oids, 0, reps)
	}
	if err != nil {
		return nil, err
	}
	c.msg = snmpwire.Message{Version: pkt.Version, PDUType: pkt.PDUType, RequestID: pkt.RequestID,
		Error: pkt.Error, ErrorIndex: pkt.ErrorIndex, Varbinds: c.msg.Varbinds[:0]}
	for _, p := range pkt.Variables {
		c.msg.Varbinds = append(c.msg.Varbinds, snmpwire.FromPDU(p))
	}
	return &c.msg, nil
}

func (c *client) close() {
	if c != nil && c.g.Conn != nil {
		_ = c.g.Conn.Close()
	}
}

// explain turns gosnmp's errors into sentences a sysadmin can act on.
func (c *client) explain(ctx context.Context, err error) error {
	a := c.agent
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("snmp %s: %w", a.Address, ctx.Err())
	case errors.Is(err, gosnmp.ErrWrongDigest) || strings.Contains(err.Error(), "not authentic"):
		return fmt.Errorf("snmp %s: SNMPv3 authentication failed for user %q (wrong auth passphrase or protocol)", a.Address, a.User)
	case errors.Is(err, gosnmp.ErrUnknownUsername):
		return fmt.Errorf("snmp %s: SNMPv3 user %q is unknown to the agent", a.Address, a.User)
	case errors.Is(err, gosnmp.ErrDecryption):
		return fmt.Errorf("snmp %s: SNMPv3 decryption failed for user %q (wrong priv passphrase or protocol)", a.Address, a.User)
	case errors.Is(err, gosnmp.ErrUnknownSecurityLevel):
		return fmt.Errorf("snmp %s: SNMPv3 security level not supported for user %q", a.Address, a.User)
	case strings.Contains(err.Error(), "connection refused"):
		return fmt.Errorf("snmp %s: nothing listens there (port unreachable)", a.Address)
	case isTimeout(err):
		what := "community"
		if a.Version == "3" {
			what = "SNMPv3 user, auth or priv settings"
		}
		return fmt.Errorf("snmp %s: no answer within %v × %d tries (agent down, unreachable, or wrong %s)", a.Address, a.Timeout, *a.Retries+1, what)
	}
	return fmt.Errorf("snmp %s: %w", a.Address, err)
}

func isTimeout(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, gosnmp.ErrMaxRetriesExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	s := err.Error()
	return strings.Contains(s, "timeout") || strings.Contains(s, "i/o timeout")
}

// trimOID drops the leading dot gosnmp puts on names.
func trimOID(s string) string { return strings.TrimPrefix(s, ".") }

// get fetches oids in batches of max_oids (fewer for the rest of the
// session once the agent said tooBig). Missing objects come back as
// NoSuchObject/NoSuchInstance varbinds (v2c/v3) or are left out (v1).
func (c *client) get(ctx context.Context, oids []string) ([]gosnmp.SnmpPDU, error) {
	if err := c.gosnmpReady(); err != nil {
		return nil, err
	}
	c.g.Context = ctx
	out := make([]gosnmp.SnmpPDU, 0, len(oids))
	for i := 0; i < len(oids); {
		step := max(c.getStep, 1)
		batch := oids[i:min(i+step, len(oids))]
		pdus, err := c.getBatch(ctx, batch)
		if err != nil {
			return out, err
		}
		out = append(out, pdus...)
		i += len(batch)
	}
	return out, nil
}

func (c *client) getBatch(ctx context.Context, batch []string) ([]gosnmp.SnmpPDU, error) {
	for len(batch) > 0 {
		c.requests++
		pkt, err := c.g.Get(batch)
		if err != nil {
			return nil, c.explain(ctx, err)
		}
		c.answered = true
		c.received += len(pkt.Variables)
		if pkt.Error == gosnmp.NoError {
			return pkt.Variables, nil
		}
		// SNMPv1 fails the whole PDU for one missing object: drop it, retry.
		if pkt.Error == gosnmp.NoSuchName && pkt.ErrorIndex >= 1 && int(pkt.ErrorIndex) <= len(batch) {
			i := int(pkt.ErrorIndex) - 1
			batch = append(append([]string(nil), batch[:i]...), batch[i+1:]...)
			continue
		}
		if pkt.Error == gosnmp.TooBig && len(batch) > 1 {
			half := len(batch) / 2
			c.getStep = min(c.getStep, half) // the next batches too
			a, err := c.getBatch(ctx, batch[:half])
			if err != nil {
				return nil, err
			}
			b, err := c.getBatch(ctx, batch[half:])
			return append(a, b...), err
		}
		return nil, fmt.Errorf("snmp %s: GET: agent answered %v", c.agent.Address, pkt.Error)
	}
	return nil, nil
}

// getInto is get for a poll: fn gets each varbind (valid until it
// returns) instead of a slice, batch after batch, in order.
func (c *client) getInto(ctx context.Context, oids []string, fn func(*snmpwire.Varbind)) error {
	c.g.Context = ctx
	for i := 0; i < len(oids); {
		step := max(c.getStep, 1)
		batch := oids[i:min(i+step, len(oids))]
		if err := c.getBatchInto(ctx, batch, fn); err != nil {
			return err
		}
		i += len(batch)
	}
	return nil
}

func (c *client) getBatchInto(ctx context.Context, batch []string, fn func(*snmpwire.Varbind)) error {
	for len(batch) > 0 {
		c.requests++
		pkt, err := c.exchange(ctx, gosnmp.GetRequest, batch, 0)
		if err != nil {
			return c.explain(ctx, err)
		}
		c.answered = true
		c.received += len(pkt.Varbinds)
		if pkt.Error == gosnmp.NoError {
			for k := range pkt.Varbinds {
				fn(&pkt.Varbinds[k])
			}
			return nil
		}
		// SNMPv1 fails the whole PDU for one missing object: drop it, retry.
		if pkt.Error == gosnmp.NoSuchName && pkt.ErrorIndex >= 1 && int(pkt.ErrorIndex) <= len(batch) {
			i := int(pkt.ErrorIndex) - 1
			batch = append(append([]string(nil), batch[:i]...), batch[i+1:]...)
			continue
		}
		if pkt.Error == gosnmp.TooBig && len(batch) > 1 {
			half := len(batch) / 2
			c.getStep = min(c.getStep, half) // the next batches too
			if err := c.getBatchInto(ctx, batch[:half], fn); err != nil {
				return err
			}
			return c.getBatchInto(ctx, batch[half:], fn)
		}
		return fmt.Errorf("snmp %s: GET: agent answered %v", c.agent.Address, pkt.Error)
	}
	return nil
}

// getNext returns, for each oid, the next object (v1: one by one).
func (c *client) getNext(ctx context.Context, oids []string) ([]gosnmp.SnmpPDU, error) {
	if err := c.gosnmpReady(); err != nil {
		return nil, err
	}
	c.g.Context = ctx
	var out []gosnmp.SnmpPDU
	step := max(c.g.MaxOids, 1)
	if c.agent.Version == "1" {
		step = 1
	}
	for i := 0; i < len(oids); i += step {
		batch := oids[i:min(i+step, len(oids))]
		c.requests++
		pkt, err := c.g.GetNext(batch)
		if err != nil {
			return out, c.explain(ctx, err)
		}
		c.answered = true
		c.received += len(pkt.Variables)
		if pkt.Error == gosnmp.NoSuchName { // v1 end of MIB
			continue
		}
		if pkt.Error != gosnmp.NoError {
			return out, fmt.Errorf("snmp %s: GETNEXT: agent answered %v", c.agent.Address, pkt.Error)
		}
		out = append(out, pkt.Variables...)
	}
	return out, nil
}
