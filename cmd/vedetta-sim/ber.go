package main

import (
	"errors"
)

// Minimal BER (X.690) for SNMPv1/v2c messages: just what an agent needs,
// with no allocation on the request path. Encoding of a response is done
// back to front (see appendHeader) so lengths are known when written.

// ASN.1 / SNMP tags.
const (
	tagInteger     = 0x02
	tagOctetString = 0x04
	tagNull        = 0x05
	tagOID         = 0x06
	tagSequence    = 0x30
	tagIPAddress   = 0x40
	tagCounter32   = 0x41
	tagGauge32     = 0x42
	tagTimeTicks   = 0x43
	tagOpaque      = 0x44
	tagCounter64   = 0x46

	tagNoSuchObject   = 0x80
	tagNoSuchInstance = 0x81
	tagEndOfMibView   = 0x82

	pduGet      = 0xa0
	pduGetNext  = 0xa1
	pduResponse = 0xa2
	pduGetBulk  = 0xa5
)

// maxOIDLen bounds the sub-identifiers of an OID we accept (RFC 2578: 128).
const maxOIDLen = 128

var errBER = errors.New("malformed BER")

// readTLV splits b into the first TLV's tag, content and the rest.
func readTLV(b []byte) (tag byte, content, rest []byte, err error) {
	if len(b) < 2 {
		return 0, nil, nil, errBER
	}
	tag = b[0]
	l := int(b[1])
	i := 2
	if l&0x80 != 0 {
		n := l & 0x7f
		if n == 0 || n > 4 || len(b) < 2+n {
			return 0, nil, nil, errBER
		}
		l = 0
		for _, c := range b[2 : 2+n] {
			l = l<<8 | int(c)
		}
		i += n
	}
	if l < 0 || len(b)-i < l {
		return 0, nil, nil, errBER
	}
	return tag, b[i : i+l], b[i+l:], nil
}

// parseInt decodes a two's complement INTEGER content (at most 8 bytes).
func parseInt(c []byte) (int64, error) {
	if len(c) == 0 || len(c) > 8 {
		return 0, errBER
	}
	v := int64(int8(c[0]))
	for _, x := range c[1:] {
		v = v<<8 | int64(x)
	}
	return v, nil
}

// parseOID decodes OID content into dst (reused) and returns it.
func parseOID(dst []uint32, c []byte) ([]uint32, error) {
	dst = dst[:0]
	if len(c) == 0 {
		return dst, errBER
	}
	var v uint64
	first := true
	for i, x := range c {
		v = v<<7 | uint64(x&0x7f)
		if v > 0xffffffff+80 {
			return dst, errBER
		}
		if x&0x80 != 0 {
			if i == len(c)-1 {
				return dst, errBER
			}
			continue
		}
		if first {
			switch {
			case v < 40:
				dst = append(dst, 0, uint32(v))
			case v < 80:
				dst = append(dst, 1, uint32(v-40))
			default:
				dst = append(dst, 2, uint32(v-80))
			}
			first = false
		} else {
			if v > 0xffffffff || len(dst) >= maxOIDLen {
				return dst, errBER
			}
			dst = append(dst, uint32(v))
		}
		v = 0
	}
	return dst, nil
}

// appendBase128 appends v in base 128 with continuation bits.
func appendBase128(b []byte, v uint64) []byte {
	var tmp [10]byte
	i := len(tmp) - 1
	tmp[i] = byte(v & 0x7f)
	for v >>= 7; v > 0; v >>= 7 {
		i--
		tmp[i] = byte(v&0x7f) | 0x80
	}
	return append(b, tmp[i:]...)
}

// appendOIDContent appends the BER content of oid (at least two arcs).
func appendOIDContent(b []byte, oid []uint32) []byte {
	if len(oid) < 2 {
		// "0.0" is the usual stand-in; a single arc x becomes x.0.
		var a uint32
		if len(oid) == 1 {
			a = oid[0]
		}
		return appendBase128(b, uint64(a)*40)
	}
	b = appendBase128(b, uint64(oid[0])*40+uint64(oid[1]))
	for _, a := range oid[2:] {
		b = appendBase128(b, uint64(a))
	}
	return b
}

// appendLength appends a definite BER length.
func appendLength(b []byte, l int) []byte {
	switch {
	case l < 0x80:
		return append(b, byte(l))
	case l < 0x100:
		return append(b, 0x81, byte(l))
	case l < 0x10000:
		return append(b, 0x82, byte(l>>8), byte(l))
	default:
		return append(b, 0x83, byte(l>>16), byte(l>>8), byte(l))
	}
}

// appendTLV appends tag, length and content.
func appendTLV(b []byte, tag byte, content []byte) []byte {
	b = append(b, tag)
	b = appendLength(b, len(content))
	return append(b, content...)
}

// appendSigned appends a minimal two's complement INTEGER TLV with tag.
func appendSigned(b []byte, tag byte, v int64) []byte {
	n := 1
	for n < 8 {
		// Enough bytes when v fits in n*8 bits signed.
		shift := uint(n*8 - 1)
		if v >= -(1<<shift) && v < 1<<shift {
			break
		}
		n++
	}
	b = append(b, tag, byte(n))
	for i := n - 1; i >= 0; i-- {
		b = append(b, byte(v>>(uint(i)*8)))
	}
	return b
}

// appendUnsigned appends an unsigned value (Counter32, Gauge32, TimeTicks,
// Counter64) as a TLV with a leading zero byte when the top bit is set.
func appendUnsigned(b []byte, tag byte, v uint64) []byte {
	n := 1
	for n < 8 && v>>(uint(n)*8) != 0 {
		n++
	}
	lead := v>>(uint(n)*8-1)&1 == 1
	l := n
	if lead {
		l++
	}
	b = append(b, tag, byte(l))
	if lead {
		b = append(b, 0)
	}
	for i := n - 1; i >= 0; i-- {
		b = append(b, byte(v>>(uint(i)*8)))
	}
	return b
}

// lengthSize is the number of bytes appendLength writes for l.
func lengthSize(l int) int {
	switch {
	case l < 0x80:
		return 1
	case l < 0x100:
		return 2
	case l < 0x10000:
		return 3
	default:
		return 4
	}
}

// prependHeader writes tag and length of a content of size l just before
// buf[start:], returning the new start. The caller reserves room in front.
func prependHeader(buf []byte, start int, tag byte, l int) int {
	n := lengthSize(l)
	start -= 1 + n
	buf[start] = tag
	switch n {
	case 1:
		buf[start+1] = byte(l)
	case 2:
		buf[start+1], buf[start+2] = 0x81, byte(l)
	case 3:
		buf[start+1], buf[start+2], buf[start+3] = 0x82, byte(l>>8), byte(l)
	default:
		buf[start+1], buf[start+2], buf[start+3], buf[start+4] = 0x83, byte(l>>16), byte(l>>8), byte(l)
	}
	return start
}

// prependBytes copies p just before buf[start:], returning the new start.
func prependBytes(buf []byte, start int, p []byte) int {
	start -= len(p)
	copy(buf[start:], p)
	return start
}

// prependSmallInt writes an INTEGER TLV for 0 <= v < 2^31 before buf[start:].
func prependSmallInt(buf []byte, start int, v int) int {
	var tmp [8]byte
	b := appendSigned(tmp[:0], tagInteger, int64(v))
	return prependBytes(buf, start, b)
}

// compareOID orders OIDs lexicographically by sub-identifier.
func compareOID(a, b []uint32) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	switch {
	case len(a) < len(b):
		return -1
	case len(a) > len(b):
		return 1
	}
	return 0
}

// hasPrefix reports whether oid starts with prefix.
func hasPrefix(oid, prefix []uint32) bool {
	if len(oid) < len(prefix) {
		return false
	}
	for i, a := range prefix {
		if oid[i] != a {
			return false
		}
	}
	return true
}
