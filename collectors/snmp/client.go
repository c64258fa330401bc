package snmp

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/gosnmp/gosnmp"
)

// client is one gosnmp session. It is owned by one goroutine at a time
// (gosnmp is not safe for concurrent use of one instance): the collector
// holds it under its own mutex.
type client struct {
	g        *gosnmp.GoSNMP
	agent    *Agent
	maxRep   uint32 // current GETBULK max-repetitions, lowered on tooBig/timeouts
	answered bool   // the agent has answered at least once on this session
	requests int    // PDUs sent (for tests and benchmarks)
}

// dial prepares a session; with UDP nothing is sent yet.
func dial(a *Agent) (*client, error) {
	g, err := a.gosnmp()
	if err != nil {
		return nil, err
	}
	if err := g.Connect(); err != nil {
		return nil, fmt.Errorf("snmp %s: %w", a.Address, err)
	}
	return &client{g: g, agent: a, maxRep: a.MaxRepetitions}, nil
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

// get fetches oids in batches of max_oids. Missing objects come back as
// NoSuchObject/NoSuchInstance varbinds (v2c/v3) or are left out (v1).
func (c *client) get(ctx context.Context, oids []string) ([]gosnmp.SnmpPDU, error) {
	c.g.Context = ctx
	var out []gosnmp.SnmpPDU
	step := max(c.g.MaxOids, 1)
	for i := 0; i < len(oids); i += step {
		batch := oids[i:min(i+step, len(oids))]
		pdus, err := c.getBatch(ctx, batch)
		if err != nil {
			return out, err
		}
		out = append(out, pdus...)
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

// getNext returns, for each oid, the next object (v1: one by one).
func (c *client) getNext(ctx context.Context, oids []string) ([]gosnmp.SnmpPDU, error) {
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

// errWalkTruncated: a walk reached its limit.
var errWalkTruncated = errors.New("walk stopped at max_walk_varbinds")

// walkLimit bounds one walk: objects, and bytes of names and values.
type walkLimit struct {
	varbinds, bytes int
}

// walkLimitOf is the limit of an agent: max_walk_varbinds objects, and
// 1 KiB per object on average (real rows are well under 100 bytes; a
// 10,000-row column of 60 KB strings is not a table, it is an attack).
func walkLimitOf(a *Agent) walkLimit {
	return walkLimit{varbinds: a.MaxWalkVarbinds, bytes: a.MaxWalkVarbinds * 1024}
}

// walk visits every object under root in OID order. It uses GETBULK (v2c,
// v3) and halves max-repetitions when the agent says tooBig or stops
// answering big requests. A buggy agent cannot make it run for ever or
// grow without bound: it fails at the first OID that does not increase,
// and returns errWalkTruncated rather than go past lim (zero fields: no
// limit; the byte budget also bounds absurdly long OIDs).
func (c *client) walk(ctx context.Context, root string, lim walkLimit, fn func(gosnmp.SnmpPDU)) error {
	c.g.Context = ctx
	root = trimOID(root)
	prefix := "." + root + "."
	cur := "." + root
	seen, size := 0, 0
	for {
		if err := ctx.Err(); err != nil {
			return c.explain(ctx, err)
		}
		var pkt *gosnmp.SnmpPacket
		var err error
		c.requests++
		if c.agent.Version == "1" {
			pkt, err = c.g.GetNext([]string{cur})
		} else {
			pkt, err = c.g.GetBulk([]string{cur}, 0, c.maxRep)
		}
		if err != nil {
			// A live agent that times out on a big answer (dropped UDP
			// fragments, slow agent) gets smaller requests; a dead one does
			// not get more chances than its timeout allows.
			if isTimeout(err) && ctx.Err() == nil && c.answered && c.maxRep > 1 {
				c.maxRep /= 2
				continue
			}
			return c.explain(ctx, err)
		}
		c.answered = true
		switch pkt.Error {
		case gosnmp.NoError:
		case gosnmp.TooBig:
			if c.maxRep > 1 {
				c.maxRep /= 2
				continue
			}
			return fmt.Errorf("snmp %s: walk %s: agent says tooBig even for one row", c.agent.Address, root)
		case gosnmp.NoSuchName: // v1 end of MIB
			return nil
		default:
			return fmt.Errorf("snmp %s: walk %s: agent answered %v", c.agent.Address, root, pkt.Error)
		}
		if len(pkt.Variables) == 0 {
			return nil
		}
		for _, v := range pkt.Variables {
			switch v.Type {
			case gosnmp.EndOfMibView, gosnmp.NoSuchObject, gosnmp.NoSuchInstance:
				return nil
			}
			if !strings.HasPrefix(v.Name, prefix) {
				return nil
			}
			if compareOID(v.Name, cur) <= 0 {
				return fmt.Errorf("snmp %s: walk %s: OID not increasing (%s after %s)", c.agent.Address, root, v.Name, cur)
			}
			n := pduSize(v)
			if (lim.varbinds > 0 && seen >= lim.varbinds) || (lim.bytes > 0 && size+n > lim.bytes) {
				return errWalkTruncated
			}
			seen, size = seen+1, size+n
			fn(v)
			cur = v.Name
		}
	}
}

// pduSize is about what a varbind holds in memory.
func pduSize(p gosnmp.SnmpPDU) int {
	n := len(p.Name) + 48
	switch v := p.Value.(type) {
	case []byte:
		n += len(v)
	case string:
		n += len(v)
	}
	return n
}

// compareOID orders dotted OIDs numerically, without allocating.
func compareOID(a, b string) int {
	a, b = trimOID(a), trimOID(b)
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		ie, je := i, j
		for ie < len(a) && a[ie] != '.' {
			ie++
		}
		for je < len(b) && b[je] != '.' {
			je++
		}
		if la, lb := ie-i, je-j; la != lb {
			if la < lb {
				return -1
			}
			return 1
		}
		if c := strings.Compare(a[i:ie], b[j:je]); c != 0 {
			return c
		}
		i, j = ie+1, je+1
	}
	switch {
	case i >= len(a) && j >= len(b):
		return 0
	case i >= len(a):
		return -1
	}
	return 1
}
