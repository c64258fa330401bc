package main

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// entry is one OID of a recording with its varbind pre-encoded, so that a
// response is mostly a copy of ready-made bytes.
type entry struct {
	oid []uint32
	tag byte   // BER tag of the value
	vb  []byte // whole varbind TLV: SEQUENCE { OID, value }
	num uint64 // numeric value of Counter32/Counter64/TimeTicks (for --counter-rate)
	seq int    // index in the loaded table: chooses the OID's --counter-rate factor
}

// recording is an immutable, sorted OID table shared by every agent that
// serves it.
type recording struct {
	name    string
	path    string
	entries []entry
	skipped int // lines that could not be used (bad OID, unknown tag, variation without a value, a value the type cannot carry such as IpAddress <private>)
}

// sysUpTime is advanced with the clock when --counter-rate is set.
var sysUpTimeOID = []uint32{1, 3, 6, 1, 2, 1, 1, 3, 0}

// loadRecording reads a .snmprec file.
func loadRecording(name, path string) (*recording, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := parseRecording(name, f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	r.path = path
	if len(r.entries) == 0 {
		return nil, fmt.Errorf("%s: no usable OID", path)
	}
	return r, nil
}

// recordingName is the device name for a file: its base name without
// .snmprec (also the community in --single-port mode, like snmpsimd).
func recordingName(path string) string {
	return strings.TrimSuffix(filepath.Base(path), ".snmprec")
}

// recordSpace is the whitespace snmpsimd strips from both ends of every
// line (Python's str.strip(), restricted to ASCII so that UTF-8 text keeps
// its bytes): a recorded value cannot end in a space unless it is
// hex-typed, and serving "UPS 09.8 " where snmpsimd serves "UPS 09.8"
// would make the two simulators disagree.
const recordSpace = " \t\n\v\f\r\x1c\x1d\x1e\x1f"

// parseRecording parses `OID|TAG|VALUE` lines, trimmed like snmpsimd does
// (recordSpace). Duplicate OIDs: the last line wins (as in snmpsimd's
// index). Variation lines (`TAG:module|opts`) use the value= or initial=
// option when there is one, and are skipped otherwise.
func parseRecording(name string, rd io.Reader) (*recording, error) {
	r := &recording{name: name}
	sc := bufio.NewScanner(rd)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		line := strings.Trim(sc.Text(), recordSpace)
		if line == "" || line[0] == '#' {
			continue
		}
		e, ok := parseLine(line)
		if !ok {
			r.skipped++
			continue
		}
		r.entries = append(r.entries, e)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	// Stable sort keeps file order among equal OIDs; keep the last one.
	slices.SortStableFunc(r.entries, func(a, b entry) int { return compareOID(a.oid, b.oid) })
	out := r.entries[:0]
	for i, e := range r.entries {
		if i+1 < len(r.entries) && compareOID(e.oid, r.entries[i+1].oid) == 0 {
			continue
		}
		out = append(out, e)
	}
	for i := range out {
		out[i].seq = i
	}
	r.entries = slices.Clip(out)
	return r, nil
}

func parseLine(line string) (entry, bool) {
	oidText, rest, ok := strings.Cut(line, "|")
	if !ok {
		return entry{}, false
	}
	tagText, value, ok := strings.Cut(rest, "|")
	if !ok {
		return entry{}, false
	}
	oid, err := parseDotted(oidText)
	if err != nil || len(oid) < 2 {
		return entry{}, false
	}
	if t, mod, isVar := strings.Cut(tagText, ":"); isVar {
		v, ok := variationValue(mod, value)
		if !ok {
			return entry{}, false
		}
		tagText, value = t, v
	}
	hexValue := strings.HasSuffix(tagText, "x")
	tagText = strings.TrimSuffix(tagText, "x")
	tagNum, err := strconv.Atoi(tagText)
	if err != nil {
		return entry{}, false
	}
	raw := []byte(value)
	if hexValue {
		if raw, err = hex.DecodeString(value); err != nil {
			return entry{}, false
		}
	}
	e := entry{oid: oid, tag: byte(tagNum)}
	var val []byte
	switch tagNum {
	case 2:
		n, err := strconv.ParseInt(strings.TrimSpace(value), 10, 64)
		if err != nil || n < -1<<31 || n >= 1<<31 {
			return entry{}, false
		}
		val = appendSigned(nil, tagInteger, n)
	case 4, 68: // OctetString, Opaque
		val = appendTLV(nil, byte(tagNum), raw)
	case 5:
		val = []byte{tagNull, 0}
	case 6:
		o, err := parseDotted(value)
		if err != nil {
			return entry{}, false
		}
		val = appendTLV(nil, tagOID, appendOIDContent(nil, o))
	case 64:
		if !hexValue {
			a, err := netip.ParseAddr(strings.TrimSpace(value))
			if err != nil || !a.Is4() {
				return entry{}, false
			}
			b := a.As4()
			raw = b[:]
		}
		if len(raw) != 4 {
			return entry{}, false
		}
		val = appendTLV(nil, tagIPAddress, raw)
	case 65, 66, 67, 70:
		n, err := strconv.ParseUint(strings.TrimSpace(value), 10, 64)
		if err != nil || (tagNum != 70 && n > 0xffffffff) {
			return entry{}, false
		}
		e.num = n
		val = appendUnsigned(nil, byte(tagNum), n)
	default:
		return entry{}, false
	}
	e.vb = encodeVarbind(oid, val)
	return e, true
}

// encodeVarbind builds SEQUENCE { OID, value } for a ready value TLV.
func encodeVarbind(oid []uint32, val []byte) []byte {
	o := appendTLV(nil, tagOID, appendOIDContent(nil, oid))
	vb := append(o, val...)
	return appendTLV(nil, tagSequence, vb)
}

// variationValue picks a static value for a snmpsim variation line: the
// value= or initial= option (writecache, numeric...); none → skip the line.
func variationValue(_, opts string) (string, bool) {
	for _, kv := range strings.Split(opts, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if ok && (k == "value" || k == "initial") {
			return v, true
		}
	}
	return "", false
}

// parseDotted parses "1.3.6.1" or ".1.3.6.1".
func parseDotted(s string) ([]uint32, error) {
	s = strings.TrimPrefix(strings.TrimSpace(s), ".")
	if s == "" {
		return nil, fmt.Errorf("empty OID")
	}
	out := make([]uint32, 0, strings.Count(s, ".")+1)
	for s != "" {
		part, rest, _ := strings.Cut(s, ".")
		n, err := strconv.ParseUint(part, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("bad OID %q", s)
		}
		out = append(out, uint32(n))
		s = rest
	}
	if len(out) > maxOIDLen || (len(out) >= 2 && (out[0] > 2 || (out[0] < 2 && out[1] >= 40))) {
		return nil, fmt.Errorf("bad OID")
	}
	return out, nil
}

// formatOID renders an OID as dotted text without a leading dot.
func formatOID(oid []uint32) string {
	var b strings.Builder
	for i, a := range oid {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(strconv.FormatUint(uint64(a), 10))
	}
	return b.String()
}

// search returns the index of the first entry >= oid, and whether it is
// equal to oid.
func (r *recording) search(oid []uint32) (int, bool) {
	lo, hi := 0, len(r.entries)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if compareOID(r.entries[m].oid, oid) < 0 {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < len(r.entries) && compareOID(r.entries[lo].oid, oid) == 0
}

// next returns the index of the first entry > oid (len when none).
func (r *recording) next(oid []uint32) int {
	i, eq := r.search(oid)
	if eq {
		i++
	}
	return i
}

// instanceMissing tells noSuchInstance from noSuchObject for a GET that
// found nothing: the object type exists when the requested OID's parent
// (the column or scalar object) prefixes an OID of the recording.
func (r *recording) instanceMissing(oid []uint32) bool {
	if len(oid) < 2 {
		return false
	}
	parent := oid[:len(oid)-1]
	i, _ := r.search(parent)
	return i < len(r.entries) && hasPrefix(r.entries[i].oid, parent)
}
