package snmp

// Walks: one subtree (walk) or the columns of a table together
// (walkColumns), bounded by max_walk_varbinds, GETBULKs sized to the
// table and shrunk after tooBig.

import (
	"context"
	"errors"
	"fmt"

	"github.com/gosnmp/gosnmp"

	"github.com/vedetta-dc/vedetta/internal/snmpwire"
)

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
// limit; the byte budget also bounds absurdly long OIDs). fn's varbind is
// valid until fn returns.
func (c *client) walk(ctx context.Context, root string, lim walkLimit, fn func(*snmpwire.Varbind)) error {
	c.g.Context = ctx
	root = trimOID(root)
	prefix := "." + root + "."
	cur := []byte("." + root)
	seen, size := 0, 0
	for {
		if err := ctx.Err(); err != nil {
			return c.explain(ctx, err)
		}
		var pkt *snmpwire.Message
		var err error
		c.requests++
		c.oids = append(c.oids[:0], string(cur))
		if c.agent.Version == "1" {
			pkt, err = c.exchange(ctx, gosnmp.GetNextRequest, c.oids, 0)
		} else {
			pkt, err = c.exchange(ctx, gosnmp.GetBulkRequest, c.oids, c.maxRep)
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
		c.received += len(pkt.Varbinds)
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
		if len(pkt.Varbinds) == 0 {
			return nil
		}
		for k := range pkt.Varbinds {
			v := &pkt.Varbinds[k]
			switch v.Type {
			case gosnmp.EndOfMibView, gosnmp.NoSuchObject, gosnmp.NoSuchInstance:
				return nil
			}
			if !hasPrefix(v.Name, prefix) {
				return nil
			}
			if compareOID(v.Name, cur) <= 0 {
				return fmt.Errorf("snmp %s: walk %s: OID not increasing (%s after %s)", c.agent.Address, root, v.Name, cur)
			}
			n := vbSize(v)
			if (lim.varbinds > 0 && seen >= lim.varbinds) || (lim.bytes > 0 && size+n > lim.bytes) {
				return errWalkTruncated
			}
			seen, size = seen+1, size+n
			fn(v)
			cur = append(cur[:0], v.Name...)
		}
	}
}

// hasPrefix is strings.HasPrefix of a name, without making a string.
func hasPrefix(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && string(b[:len(prefix)]) == prefix
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

// vbSize is pduSize of a wire varbind (the same number for the same
// varbind: gosnmp's values are []byte, or strings for OIDs and addresses).
func vbSize(p *snmpwire.Varbind) int {
	n := len(p.Name) + 48
	switch p.Type {
	case gosnmp.OctetString, gosnmp.Opaque, gosnmp.ObjectIdentifier:
		n += len(p.Bytes)
	case gosnmp.IPAddress:
		if p.Bytes != nil {
			var b [64]byte
			n += len(snmpwire.AppendIP(b[:0], p.Bytes))
		}
	}
	return n
}

// compareOID orders dotted OIDs numerically, without allocating.
func compareOID[S ~string | ~[]byte](a, b S) int {
	if len(a) > 0 && a[0] == '.' {
		a = a[1:]
	}
	if len(b) > 0 && b[0] == '.' {
		b = b[1:]
	}
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
		for k := 0; k < ie-i; k++ { // runs of equal length: bytewise is numeric (as strings.Compare was)
			if a[i+k] != b[j+k] {
				if a[i+k] < b[j+k] {
					return -1
				}
				return 1
			}
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

// column is the state of one column of a multi-column walk.
type column struct {
	root, prefix string
	cur          []byte // the last name read
	seen, size   int
	done         bool
}

// walkColumns visits every object under each of roots (the columns of one
// table, in OID order) with GETBULK requests that carry several columns
// at once (up to max_oids), sized to the table: rows is the row count of
// the previous round (-1: unknown, max_repetitions), and a request asks for
// one repetition more than the rows still expected, so that it sees every
// column's end without a further round trip. fn gets each object with the
// index of its root (valid until fn returns). It returns the table's row
// count (the longest column), the roots that stopped at lim
// (errWalkTruncated for each, as walk does), and the first error; a failed
// request ends the walk of every column still open, keeping what was
// read. SNMPv1 (no GETBULK) walks column by column with walk.
func (c *client) walkColumns(ctx context.Context, roots []string, rows int, lim walkLimit, fn func(i int, p *snmpwire.Varbind)) (int, []string, error) {
	if c.agent.Version == "1" {
		var truncated []string
		var firstErr error
		longest := 0
		for i, r := range roots {
			n := 0
			err := c.walk(ctx, r, lim, func(p *snmpwire.Varbind) { n++; fn(i, p) })
			longest = max(longest, n)
			switch {
			case errors.Is(err, errWalkTruncated):
				truncated = append(truncated, r)
			case err != nil && (ctx.Err() != nil || (isTimeout(err) && !c.answered)):
				return longest, truncated, err
			case err != nil && firstErr == nil:
				firstErr = err
			}
		}
		return longest, truncated, firstErr
	}
	c.g.Context = ctx
	cols := make([]column, len(roots))
	for i, r := range roots {
		r = trimOID(r)
		cols[i] = column{root: r, prefix: "." + r + ".", cur: []byte("." + r)}
	}
	expect := c.agent.MaxRepetitions // repetitions wanted per column, from the last round
	if rows >= 0 {
		expect = uint32(rows) + 1
	}
	var truncated []string
	var firstErr error
	open := make([]int, 0, len(cols))
	for {
		if err := ctx.Err(); err != nil {
			return longestColumn(cols), truncated, c.explain(ctx, err)
		}
		open = open[:0]
		for i := range cols {
			if !cols[i].done {
				open = append(open, i)
			}
		}
		if len(open) == 0 {
			return longestColumn(cols), truncated, firstErr
		}
		if step := max(c.colStep, 1); len(open) > step {
			open = open[:step]
		}
		// Repetitions: what the open columns still lack from last round's
		// size (a column past it, a table that grew: max_repetitions).
		var reps uint32 = 1
		for _, i := range open {
			want := c.maxRep
			if got := uint32(cols[i].seen); got < expect {
				want = expect - got
			}
			reps = max(reps, want)
		}
		reps = min(reps, max(c.maxRep, 1))
		c.oids = c.oids[:0]
		for _, i := range open {
			c.oids = append(c.oids, string(cols[i].cur)) // one string per column per request
		}
		c.requests++
		pkt, err := c.exchange(ctx, gosnmp.GetBulkRequest, c.oids, reps)
		if err != nil {
			// As in walk: a live agent that times out on a big answer gets
			// smaller requests; a dead one no more chances than its timeout.
			if isTimeout(err) && ctx.Err() == nil && c.answered && (c.maxRep > 1 || c.colStep > 1) {
				c.shrink()
				continue
			}
			return longestColumn(cols), truncated, c.explain(ctx, err)
		}
		c.answered = true
		c.received += len(pkt.Varbinds)
		switch pkt.Error {
		case gosnmp.NoError:
		case gosnmp.TooBig:
			if c.maxRep > 1 || c.colStep > 1 {
				c.shrink()
				continue
			}
			return longestColumn(cols), truncated, fmt.Errorf("snmp %s: walk %s: agent says tooBig even for one row", c.agent.Address, cols[open[0]].root)
		default:
			return longestColumn(cols), truncated, fmt.Errorf("snmp %s: walk %s: agent answered %v", c.agent.Address, cols[open[0]].root, pkt.Error)
		}
		if len(pkt.Varbinds) == 0 {
			for _, i := range open {
				cols[i].done = true
			}
			continue
		}
		// Varbind k answers column open[k % len(open)] (RFC 3416 4.2.3,
		// no non-repeaters); the agent may cut the list anywhere.
		for k := range pkt.Varbinds {
			v := &pkt.Varbinds[k]
			i := open[k%len(open)]
			col := &cols[i]
			if col.done {
				continue
			}
			switch v.Type {
			case gosnmp.EndOfMibView, gosnmp.NoSuchObject, gosnmp.NoSuchInstance:
				col.done = true
				continue
			}
			if !hasPrefix(v.Name, col.prefix) {
				col.done = true
				continue
			}
			if compareOID(v.Name, col.cur) <= 0 {
				col.done = true
				if firstErr == nil {
					firstErr = fmt.Errorf("snmp %s: walk %s: OID not increasing (%s after %s)", c.agent.Address, col.root, v.Name, col.cur)
				}
				continue
			}
			n := vbSize(v)
			if (lim.varbinds > 0 && col.seen >= lim.varbinds) || (lim.bytes > 0 && col.size+n > lim.bytes) {
				col.done = true
				truncated = append(truncated, col.root)
				continue
			}
			col.seen, col.size = col.seen+1, col.size+n
			col.cur = append(col.cur[:0], v.Name...)
			fn(i, v)
		}
	}
}

// shrink makes the next GETBULK smaller after tooBig or a timeout of a
// live agent: fewer repetitions first, then fewer columns per request.
func (c *client) shrink() {
	if c.maxRep > 1 {
		c.maxRep /= 2
		return
	}
	c.colStep /= 2
}

func longestColumn(cols []column) int {
	n := 0
	for _, c := range cols {
		n = max(n, c.seen)
	}
	return n
}
