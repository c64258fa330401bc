package main

import (
	"sync/atomic"
	"time"
)

// behaviour of an agent.
type behaviour uint8

const (
	healthy behaviour = iota
	dead              // never answers
	slow              // answers after --slow-delay
)

func (b behaviour) String() string {
	switch b {
	case dead:
		return "dead"
	case slow:
		return "slow"
	}
	return "ok"
}

// agent is one simulated device: a recording, a community and a behaviour.
type agent struct {
	index     int
	port      int
	community string
	rec       *recording                 // as loaded; the one served is live's, when set
	live      *atomic.Pointer[recording] // shared by the agents of rec; swapped by the admin endpoint
	mode      behaviour
	rate      float64 // counter increase per second (0: static values)
	start     time.Time
	served    atomic.Uint64
}

// current is the recording the agent serves now: one atomic load per
// request, so a run-time override (admin.go) costs the hot path nothing.
func (a *agent) current() *recording {
	if a.live != nil {
		return a.live.Load()
	}
	return a.rec
}

// SNMP error-status values.
const (
	errNone       = 0
	errTooBig     = 1
	errNoSuchName = 2
)

// headroom is the space reserved in front of the varbinds of a response
// for the message, PDU and varbind-list headers (community up to 255 bytes).
const headroom = 320

// handler holds the per-goroutine scratch space of the request path; it is
// not safe for concurrent use.
type handler struct {
	out     []byte     // response buffer: headroom + varbinds
	oid     []uint32   // parsed request OID
	reqVBs  [][]byte   // raw request varbinds (v1 error echo)
	reqOIDs [][]byte   // OID content of each request varbind
	pos     []int      // GETBULK repeater positions
	rec     *recording // served by the request in progress (one table for the whole answer)
	maxMsg  int
	limit   int           // end offset the varbinds may not pass
	w       int           // write offset in out
	elapsed time.Duration // since the agent started (moving counters)
	now     func() time.Time
}

func newHandler(maxMsg int) *handler {
	return &handler{
		out:    make([]byte, headroom+maxMsg),
		oid:    make([]uint32, 0, maxOIDLen),
		maxMsg: maxMsg,
		now:    time.Now,
	}
}

// request is a decoded SNMP message header.
type request struct {
	version   int64
	community []byte
	pduType   byte
	reqID     []byte // raw INTEGER TLV, echoed
	nonRep    int64  // error-status field of the request
	maxRep    int64  // error-index field of the request
	varbinds  []byte // content of the varbind list
}

// decodeRequest parses a v1/v2c message without copying.
func decodeRequest(msg []byte) (request, error) {
	var q request
	tag, body, _, err := readTLV(msg)
	if err != nil || tag != tagSequence {
		return q, errBER
	}
	tag, c, body, err := readTLV(body)
	if err != nil || tag != tagInteger {
		return q, errBER
	}
	if q.version, err = parseInt(c); err != nil {
		return q, err
	}
	if tag, q.community, body, err = readTLV(body); err != nil || tag != tagOctetString {
		return q, errBER
	}
	if q.pduType, body, _, err = readTLV(body); err != nil {
		return q, errBER
	}
	// request-id (kept raw), error-status/non-repeaters, error-index/max-repetitions
	start := body
	if tag, _, body, err = readTLV(body); err != nil || tag != tagInteger {
		return q, errBER
	}
	q.reqID = start[:len(start)-len(body)]
	if tag, c, body, err = readTLV(body); err != nil || tag != tagInteger {
		return q, errBER
	}
	if q.nonRep, err = parseInt(c); err != nil {
		return q, err
	}
	if tag, c, body, err = readTLV(body); err != nil || tag != tagInteger {
		return q, errBER
	}
	if q.maxRep, err = parseInt(c); err != nil {
		return q, err
	}
	if tag, q.varbinds, _, err = readTLV(body); err != nil || tag != tagSequence {
		return q, errBER
	}
	return q, nil
}

// handle answers one request for agent a. It returns the response (a slice
// of h.out, valid until the next call) or nil when the agent stays silent
// (bad packet, wrong community, unsupported PDU).
func (h *handler) handle(a *agent, msg []byte) []byte {
	q, err := decodeRequest(msg)
	if err != nil || (q.version != 0 && q.version != 1) || string(q.community) != a.community {
		return nil
	}
	return h.answer(a, &q)
}

// answer builds the response to a decoded request.
func (h *handler) answer(a *agent, q *request) []byte {
	v1 := q.version == 0
	h.reqVBs, h.reqOIDs = h.reqVBs[:0], h.reqOIDs[:0]
	for rest := q.varbinds; len(rest) > 0; {
		tag, vb, r, err := readTLV(rest)
		if err != nil || tag != tagSequence {
			return nil
		}
		otag, oc, _, err := readTLV(vb)
		if err != nil || otag != tagOID {
			return nil
		}
		h.reqVBs = append(h.reqVBs, rest[:len(rest)-len(r)])
		h.reqOIDs = append(h.reqOIDs, oc)
		rest = r
	}
	// The varbinds may use at most limit bytes so that the whole message
	// stays within maxMsg.
	h.limit = headroom + h.maxMsg - 40 - len(q.community) - len(q.reqID)
	h.w = headroom
	h.elapsed = 0
	if a.rate > 0 {
		h.elapsed = h.now().Sub(a.start)
	}
	rec := a.current()
	h.rec = rec
	errStatus, errIndex := errNone, 0
	switch q.pduType {
	case pduGet, pduGetNext:
		for k, oc := range h.reqOIDs {
			var err error
			if h.oid, err = parseOID(h.oid, oc); err != nil {
				return nil
			}
			var i int
			found := false
			if q.pduType == pduGet {
				var eq bool
				i, eq = rec.search(h.oid)
				found = eq && !(v1 && rec.entries[i].tag == tagCounter64)
			} else {
				i = h.skipV1(rec, rec.next(h.oid), v1)
				found = i < len(rec.entries)
			}
			ok := true
			switch {
			case found:
				ok = h.putEntry(a, i)
			case v1:
				errStatus, errIndex = errNoSuchName, k+1
			case q.pduType == pduGetNext:
				ok = h.putException(h.oid, tagEndOfMibView)
			case rec.instanceMissing(h.oid):
				ok = h.putException(h.oid, tagNoSuchInstance)
			default:
				ok = h.putException(h.oid, tagNoSuchObject)
			}
			if !ok {
				errStatus = errTooBig
			}
			if errStatus != errNone {
				break
			}
		}
	case pduGetBulk:
		if v1 || !h.bulk(a, q) {
			return nil // GETBULK does not exist in SNMPv1
		}
	default:
		return nil // SET and anything else: a read-only agent stays silent
	}
	if errStatus != errNone {
		// v1 errors and tooBig echo the request's varbinds (RFC 1157);
		// a v2 tooBig has an empty list (RFC 3416 4.2.1).
		h.w = headroom
		if v1 || errStatus != errTooBig {
			for _, vb := range h.reqVBs {
				h.w += copy(h.out[h.w:], vb)
			}
		}
		if errStatus == errTooBig {
			errIndex = 0
		}
	}
	return h.wrap(q, errStatus, errIndex)
}

// skipV1 moves i past Counter64 entries for SNMPv1, which cannot carry
// them (net-snmp's agent does the same).
func (h *handler) skipV1(rec *recording, i int, v1 bool) int {
	for v1 && i < len(rec.entries) && rec.entries[i].tag == tagCounter64 {
		i++
	}
	return i
}

// bulk fills the GETBULK varbinds (RFC 3416 4.2.3); false for an
// unusable request. The list is cut when the message would exceed maxMsg,
// and after the first repetition in which every repeater is endOfMibView.
func (h *handler) bulk(a *agent, q *request) bool {
	rec := h.rec
	n := len(h.reqOIDs)
	nonRep := int(max(0, min(q.nonRep, int64(n))))
	maxRep := int(max(0, min(q.maxRep, 65535)))
	// pos[j]: table index reached by repeater j (len(entries): past the end).
	h.pos = h.pos[:0]
	for k, oc := range h.reqOIDs {
		var err error
		if h.oid, err = parseOID(h.oid, oc); err != nil {
			return false
		}
		i := rec.next(h.oid)
		if k >= nonRep {
			h.pos = append(h.pos, i)
			if maxRep == 0 {
				continue
			}
		}
		if !h.putNext(a, i, h.oid) {
			return true
		}
	}
	for r := 1; r < maxRep; r++ {
		ends := 0
		for _, i := range h.pos {
			if i >= len(rec.entries) {
				ends++
			}
		}
		if ends == len(h.pos) {
			return true
		}
		for j, i := range h.pos {
			prev := i
			if i < len(rec.entries) {
				i++
			}
			h.pos[j] = i
			var from []uint32
			if prev < len(rec.entries) {
				from = rec.entries[prev].oid
			} else {
				// Past the end: named like the previous endOfMibView, i.e.
				// the table's last OID, or the request when beyond it.
				h.oid, _ = parseOID(h.oid, h.reqOIDs[nonRep+j])
				from = h.oid
				if last := rec.entries[len(rec.entries)-1].oid; compareOID(h.oid, last) < 0 {
					from = last
				}
			}
			if !h.putNext(a, i, from) {
				return true
			}
		}
	}
	return true
}

// putNext appends entry i, or endOfMibView named from when i is past the end.
func (h *handler) putNext(a *agent, i int, from []uint32) bool {
	if i < len(h.rec.entries) {
		return h.putEntry(a, i)
	}
	return h.putException(from, tagEndOfMibView)
}

// putEntry appends entry i of the request's recording at h.w; false (and
// nothing written) when it does not fit.
func (h *handler) putEntry(a *agent, i int) bool {
	e := &h.rec.entries[i]
	if a.rate > 0 && (e.tag == tagCounter32 || e.tag == tagCounter64 ||
		(e.tag == tagTimeTicks && compareOID(e.oid, sysUpTimeOID) == 0)) {
		return h.putMoving(a, e)
	}
	if h.w+len(e.vb) > h.limit {
		return false
	}
	h.w += copy(h.out[h.w:], e.vb)
	return true
}

// putMoving appends a counter (or sysUpTime) advanced with the clock.
func (h *handler) putMoving(a *agent, e *entry) bool {
	var v uint64
	if e.tag == tagTimeTicks {
		v = (e.num + uint64(h.elapsed/(10*time.Millisecond))) & 0xffffffff
	} else {
		// Each OID gets 0.5x..1.5x the agent's rate, so rates differ; by
		// its place in the loaded file (seq), so that an OID added at run
		// time does not change the rate of those after it.
		f := 0.5 + float64(e.seq%11)/10
		v = e.num + uint64(h.elapsed.Seconds()*a.rate*f)
		if e.tag == tagCounter32 {
			v &= 0xffffffff
		}
	}
	var tmp [16]byte
	// OID TLV is the first element of the pre-encoded varbind.
	_, body, _, _ := readTLV(e.vb)
	_, _, rest, _ := readTLV(body)
	oidTLV := body[:len(body)-len(rest)]
	val := appendUnsigned(tmp[:0], e.tag, v)
	l := len(oidTLV) + len(val)
	need := 1 + lengthSize(l) + l
	if h.w+need > h.limit {
		return false
	}
	w := appendLength(append(h.out[h.w:h.w], tagSequence), l)
	w = append(w, oidTLV...)
	w = append(w, val...)
	h.w += len(w)
	return true
}

// putException appends a varbind {oid, tag NULL-like} (noSuchObject,
// noSuchInstance, endOfMibView).
func (h *handler) putException(oid []uint32, tag byte) bool {
	var tmp [5 * maxOIDLen]byte
	oc := appendOIDContent(tmp[:0], oid)
	l := 1 + lengthSize(len(oc)) + len(oc) + 2
	need := 1 + lengthSize(l) + l
	if h.w+need > h.limit {
		return false
	}
	w := appendLength(append(h.out[h.w:h.w], tagSequence), l)
	w = appendTLV(w, tagOID, oc)
	w = append(w, tag, 0)
	h.w += len(w)
	return true
}

// wrap writes the headers in front of the varbinds at h.out[headroom:h.w].
func (h *handler) wrap(q *request, errStatus, errIndex int) []byte {
	s := prependHeader(h.out, headroom, tagSequence, h.w-headroom)
	s = prependSmallInt(h.out, s, errIndex)
	s = prependSmallInt(h.out, s, errStatus)
	s = prependBytes(h.out, s, q.reqID)
	s = prependHeader(h.out, s, pduResponse, h.w-s)
	s = prependBytes(h.out, s, q.community)
	s = prependHeader(h.out, s, tagOctetString, len(q.community))
	s = prependSmallInt(h.out, s, int(q.version))
	s = prependHeader(h.out, s, tagSequence, h.w-s)
	return h.out[s:h.w]
}
