// Package snmpwire decodes SNMP v1/v2c response messages into reused
// buffers: the varbinds are views into the datagram (and into one text
// buffer of the Message for the dotted OIDs), so that decoding an answer
// allocates nothing per varbind once the Message has grown to the size of
// the answers it sees.
//
// It reads exactly what gosnmp (v1.47) reads, quirks included (an OCTET
// STRING value that declares one byte beyond its varbind, a counter too
// large for its type that becomes an unknown-typed varbind, a non-INTEGER
// version read as v1): the response path must not change what vedetta
// sees from a device. FuzzWireVsGosnmp holds it to that. SNMPv3 messages
// are not decoded here (ErrV3): their security stays with gosnmp.
package snmpwire

import (
	"errors"
	"math"
	"net/netip"
	"strconv"

	"github.com/gosnmp/gosnmp"
)

// Errors. Each names what is wrong with a packet; none carries the packet.
var (
	ErrTruncated   = errors.New("snmpwire: truncated or over-long element")
	ErrLength      = errors.New("snmpwire: invalid length")
	ErrNotSequence = errors.New("snmpwire: expected a SEQUENCE")
	ErrField       = errors.New("snmpwire: unexpected field type")
	ErrInteger     = errors.New("snmpwire: invalid INTEGER")
	ErrOID         = errors.New("snmpwire: invalid OBJECT IDENTIFIER")
	ErrName        = errors.New("snmpwire: varbind name is not an OID")
	ErrValue       = errors.New("snmpwire: invalid value")
	ErrPDUType     = errors.New("snmpwire: unknown PDU type")
	ErrTrap        = errors.New("snmpwire: an SNMPv1 trap, not a response")
	ErrV3          = errors.New("snmpwire: an SNMPv3 message (decoded by gosnmp)")
)

// Varbind is one variable binding. Its slices point into the decoded
// packet or the Message's text buffer: valid until the Message decodes
// the next packet or the packet's buffer is reused.
type Varbind struct {
	Name  []byte         // dotted with a leading dot, as gosnmp names it
	Type  gosnmp.Asn1BER // as gosnmp reports it (UnknownType for a counter it cannot read)
	Int   int64          // Integer
	Uint  uint64         // Counter32, Gauge32, TimeTicks, Counter64, Uinteger32
	Float float64        // OpaqueFloat (a float32), OpaqueDouble
	Bytes []byte         // OctetString, Opaque; ObjectIdentifier: dotted text; IPAddress: 4 or 16 bytes (nil: empty)
}

// Message is a decoded v1/v2c message. Decode reuses its buffers.
type Message struct {
	Version        gosnmp.SnmpVersion
	Community      []byte
	PDUType        gosnmp.PDUType
	RequestID      uint32
	Error          gosnmp.SNMPError
	ErrorIndex     uint8
	NonRepeaters   uint8  // GetBulkRequest PDUs only
	MaxRepetitions uint32 // GetBulkRequest PDUs only
	Varbinds       []Varbind

	text []byte // dotted OIDs of names and values
}

// Decode parses pkt into m. On error m holds nothing useful. pkt must not
// change while m's views are used.
func (m *Message) Decode(pkt []byte) error {
	*m = Message{Varbinds: m.Varbinds[:0], text: m.text[:0]}
	// The text buffer is sized up front so that the views into it stay
	// in one array (an append that grows it would leave earlier views in
	// the old one: still correct, but garbage).
	if need := 4*len(pkt) + 8; cap(m.text) < need {
		m.text = make([]byte, 0, need)
	}
	if len(pkt) < 2 {
		return ErrTruncated
	}
	if pkt[0] != 0x30 {
		return ErrNotSequence
	}
	length, cur, err := parseLength(pkt)
	if err != nil {
		return err
	}
	if length != len(pkt) {
		return ErrTruncated
	}
	f, n, err := m.field(pkt[cur:])
	if err != nil {
		return err
	}
	cur += n
	if cur >= len(pkt) {
		return ErrTruncated
	}
	if f.kind == kindInt {
		m.Version = gosnmp.SnmpVersion(f.i) //nolint:gosec // gosnmp truncates the same way
	}
	if m.Version == gosnmp.Version3 {
		return ErrV3
	}
	f, n, err = m.field(pkt[cur:])
	if err != nil {
		return err
	}
	cur += n
	if f.kind == kindText {
		m.Community = f.s
	}
	if cur >= len(pkt) {
		return ErrTruncated
	}
	t := gosnmp.PDUType(pkt[cur])
	switch t {
	case gosnmp.GetResponse, gosnmp.GetNextRequest, gosnmp.GetBulkRequest, gosnmp.Report,
		gosnmp.SNMPv2Trap, gosnmp.GetRequest, gosnmp.SetRequest, gosnmp.InformRequest:
	case gosnmp.Trap:
		return ErrTrap
	default:
		return ErrPDUType
	}
	m.PDUType = t
	return m.pdu(pkt[cur:])
}

func (m *Message) pdu(p []byte) error {
	length, cur, err := parseLength(p)
	if err != nil {
		return err
	}
	if length != len(p) {
		return ErrTruncated
	}
	var ints [3]field
	for k := range ints {
		f, n, err := m.field(p[cur:])
		if err != nil {
			return err
		}
		ints[k] = f
		cur += n
	}
	if m.PDUType == gosnmp.GetBulkRequest {
		if ints[1].kind == kindInt {
			m.NonRepeaters = uint8(ints[1].i) //nolint:gosec
		}
		if ints[2].kind == kindInt {
			m.MaxRepetitions = uint32(ints[2].i & 0x7FFFFFFF) //nolint:gosec
		}
	} else {
		if ints[1].kind == kindInt {
			m.Error = gosnmp.SNMPError(ints[1].i) //nolint:gosec
		}
		if ints[2].kind == kindInt {
			m.ErrorIndex = uint8(ints[2].i) //nolint:gosec
		}
	}
	if ints[0].kind == kindInt {
		m.RequestID = uint32(ints[0].i) //nolint:gosec
	}
	return m.varbinds(p[cur:])
}

func (m *Message) varbinds(p []byte) error {
	if len(p) == 0 {
		return ErrTruncated
	}
	if p[0] != 0x30 {
		return ErrNotSequence
	}
	vblLen, cur, err := parseLength(p)
	if err != nil {
		return err
	}
	if vblLen == 0 || vblLen != len(p) {
		return ErrTruncated
	}
	if vblLen == 2 && p[1] == 0 {
		return nil
	}
	for cur < vblLen {
		if p[cur] != 0x30 {
			return ErrNotSequence
		}
		vbLen, inc, err := parseLength(p[cur:])
		if err != nil {
			return err
		}
		end := cur + vbLen
		if end > vblLen {
			return ErrTruncated
		}
		cur += inc
		f, n, err := m.field(p[cur:end])
		if err != nil {
			return err
		}
		if f.kind != kindText {
			return ErrName
		}
		cur += n
		vb := Varbind{Name: f.s}
		val := p[cur:end]
		vLen, vCur, err := parseLength(val)
		if err != nil {
			return err
		}
		switch {
		case vLen == len(val):
			if err := m.value(val, &vb); err != nil {
				return err
			}
		case len(val) > 0 && vLen == len(val)+1 && gosnmp.Asn1BER(val[0]) == gosnmp.OctetString:
			// Some MikroTik answers declare an OCTET STRING one byte longer
			// than its varbind; gosnmp reads what the varbind holds.
			vb.Type, vb.Bytes = gosnmp.OctetString, val[vCur:]
		default:
			return ErrTruncated
		}
		cur = end
		m.Varbinds = append(m.Varbinds, vb)
	}
	return nil
}

// value decodes one value TLV (its length is len(d)).
func (m *Message) value(d []byte, vb *Varbind) error {
	if len(d) == 0 {
		return ErrTruncated
	}
	t := gosnmp.Asn1BER(d[0])
	length, cur, err := parseLength(d)
	if err != nil {
		return err
	}
	body := d[min(cur, len(d)):min(length, len(d))]
	switch t {
	case gosnmp.Integer, gosnmp.Uinteger32:
		i, err := parseInt64(body)
		if err != nil {
			return err
		}
		vb.Type = t
		if t == gosnmp.Uinteger32 {
			vb.Uint = uint64(uint32(i)) //nolint:gosec // gosnmp: uint32(int)
		} else {
			vb.Int = i
		}
	case gosnmp.OctetString:
		vb.Type, vb.Bytes = t, body
	case gosnmp.Null, gosnmp.NoSuchObject, gosnmp.NoSuchInstance, gosnmp.EndOfMibView:
		vb.Type = t
	case gosnmp.ObjectIdentifier:
		f, _, err := m.field(d)
		if err != nil {
			return err
		}
		vb.Type, vb.Bytes = t, f.s
	case gosnmp.IPAddress:
		vb.Type = t
		switch length - cur {
		case 0: // buggy devices send an empty address
		case 4, 16:
			if len(d) < length {
				return ErrTruncated
			}
			vb.Bytes = body
		default:
			return ErrValue
		}
	case gosnmp.Counter32, gosnmp.Gauge32, gosnmp.TimeTicks, gosnmp.Counter64:
		u, ok := parseUint64(body)
		switch {
		case !ok:
			// gosnmp leaves a counter it cannot read untyped and empty.
			vb.Type = gosnmp.UnknownType
		case t == gosnmp.TimeTicks:
			vb.Type, vb.Uint = t, uint64(uint32(u)) //nolint:gosec // gosnmp: uint32(uint)
		default:
			vb.Type, vb.Uint = t, u
		}
	case gosnmp.Opaque:
		return opaque(body, vb)
	default:
		vb.Type = gosnmp.UnknownType
	}
	return nil
}

// opaque reads an Opaque's content: a float or double in the
// net-snmp extension, else the bytes.
func opaque(d []byte, vb *Varbind) error {
	if len(d) == 0 {
		return ErrTruncated
	}
	if len(d) > 2 && d[0] == gosnmp.AsnExtensionTag && (gosnmp.Asn1BER(d[1]) == gosnmp.OpaqueFloat || gosnmp.Asn1BER(d[1]) == gosnmp.OpaqueDouble) {
		d = d[1:]
		length, cur, err := parseLength(d)
		if err != nil {
			return err
		}
		if length > len(d) {
			return ErrTruncated
		}
		b := d[cur:length]
		if gosnmp.Asn1BER(d[0]) == gosnmp.OpaqueFloat {
			if len(b) != 4 {
				return ErrValue
			}
			bits := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
			vb.Type, vb.Float = gosnmp.OpaqueFloat, float64(math.Float32frombits(bits))
			return nil
		}
		if len(b) != 8 {
			return ErrValue
		}
		var bits uint64
		for _, c := range b {
			bits = bits<<8 | uint64(c)
		}
		vb.Type, vb.Float = gosnmp.OpaqueDouble, math.Float64frombits(bits)
		return nil
	}
	vb.Type, vb.Bytes = gosnmp.Opaque, d
	return nil
}

type fieldKind uint8

const (
	kindNone fieldKind = iota // parsed, but neither an int nor text (a TimeTicks, an empty address)
	kindInt
	kindText
)

// field is what gosnmp's parseRawField makes of a header field or a
// varbind name: an INTEGER, or text (an OCTET STRING's bytes, an OID or
// IPv4 address in dotted form), or something else it skips.
type field struct {
	kind fieldKind
	i    int64
	s    []byte
}

// field parses one header field or name TLV; n is its length.
func (m *Message) field(d []byte) (field, int, error) {
	if len(d) == 0 {
		return field{}, 0, ErrTruncated
	}
	length, cur, err := parseLength(d)
	if err != nil {
		return field{}, 0, err
	}
	switch gosnmp.Asn1BER(d[0]) {
	case gosnmp.Integer:
		if length > len(d) || cur > length {
			return field{}, 0, ErrTruncated
		}
		i, err := parseInt64(d[cur:length])
		if err != nil {
			return field{}, 0, err
		}
		return field{kind: kindInt, i: i}, length, nil
	case gosnmp.OctetString:
		if length > len(d) || cur > length {
			return field{}, 0, ErrTruncated
		}
		return field{kind: kindText, s: d[cur:length]}, length, nil
	case gosnmp.ObjectIdentifier:
		if length > len(d) || cur > length {
			return field{}, 0, ErrTruncated
		}
		s, err := m.appendOID(d[cur:length])
		if err != nil {
			return field{}, 0, err
		}
		return field{kind: kindText, s: s}, length, nil
	case gosnmp.IPAddress:
		switch length - cur {
		case 0:
			return field{}, length, nil
		case 4:
			if len(d) < cur+4 {
				return field{}, 0, ErrTruncated
			}
			start := len(m.text)
			m.text = AppendIP(m.text, d[cur:cur+4])
			return field{kind: kindText, s: m.text[start:len(m.text):len(m.text)]}, length, nil
		}
		return field{}, 0, ErrValue
	case gosnmp.TimeTicks:
		if length > len(d) || cur > length {
			return field{}, 0, ErrTruncated
		}
		if _, ok := parseUint64(d[cur:length]); !ok {
			return field{}, 0, ErrInteger
		}
		return field{}, length, nil
	}
	return field{}, 0, ErrField
}

// appendOID writes an OID's dotted form to m.text and returns it.
func (m *Message) appendOID(src []byte) ([]byte, error) {
	start := len(m.text)
	if len(src) == 0 {
		m.text = append(m.text, ".0.0"...) // as net-snmp and gosnmp read an empty OID
		return m.text[start:len(m.text):len(m.text)], nil
	}
	v, off, err := base128(src, 0)
	if err != nil {
		return nil, err
	}
	m.text = append(m.text, '.')
	if v < 80 {
		m.text = strconv.AppendUint(m.text, uint64(v/40), 10)
		m.text = append(m.text, '.')
		m.text = strconv.AppendUint(m.text, uint64(v%40), 10)
	} else {
		m.text = append(m.text, '2', '.')
		m.text = strconv.AppendUint(m.text, uint64(v-80), 10)
	}
	for off < len(src) {
		v, off, err = base128(src, off)
		if err != nil {
			return nil, err
		}
		m.text = append(m.text, '.')
		m.text = strconv.AppendUint(m.text, uint64(v), 10)
	}
	return m.text[start:len(m.text):len(m.text)], nil
}

func base128(b []byte, off int) (uint32, int, error) {
	var r uint64
	for off < len(b) {
		c := b[off]
		off++
		r = r<<7 | uint64(c&0x7f)
		if r > math.MaxUint32 {
			return 0, 0, ErrOID
		}
		if c&0x80 == 0 {
			return uint32(r), off, nil
		}
	}
	return 0, 0, ErrOID
}

// parseLength returns the length of the TLV at b's start (header
// included) and the offset of its content, as gosnmp computes them: a
// TLV of fewer than two bytes is as long as what there is.
func parseLength(b []byte) (length, cur int, err error) {
	switch {
	case len(b) < 2:
		return len(b), len(b), nil
	case b[1] <= 127:
		return int(b[1]) + 2, 2, nil
	case b[1] == 0x80:
		return 0, 0, ErrLength // indefinite form: prohibited (RFC 3417 8)
	}
	n := int(b[1]) & 127
	for i := range n {
		if len(b) < 2+i+1 {
			return 0, 0, ErrLength
		}
		length = length<<8 + int(b[2+i])
		if length < 0 {
			return 0, 0, ErrLength
		}
	}
	length += 2 + n
	if length < 0 {
		return 0, 0, ErrLength
	}
	return length, 2 + n, nil
}

func parseInt64(b []byte) (int64, error) {
	if len(b) == 0 || len(b) > 8 {
		return 0, ErrInteger
	}
	var r int64
	for _, c := range b {
		r = r<<8 | int64(c)
	}
	shift := 64 - uint(len(b))*8
	return r << shift >> shift, nil
}

func parseUint64(b []byte) (uint64, bool) {
	if len(b) > 9 || (len(b) > 8 && b[0] != 0) {
		return 0, false
	}
	var r uint64
	for _, c := range b {
		r = r<<8 | uint64(c)
	}
	return r, true
}

// AppendIP appends an address of 4 or 16 bytes as net.IP.String writes
// it (an IPv4-mapped IPv6 address in dotted form).
func AppendIP(dst, ip []byte) []byte {
	if len(ip) == 16 && isV4Mapped(ip) {
		ip = ip[12:]
	}
	if len(ip) == 4 {
		for i, c := range ip {
			if i > 0 {
				dst = append(dst, '.')
			}
			dst = strconv.AppendUint(dst, uint64(c), 10)
		}
		return dst
	}
	if len(ip) != 16 {
		return dst
	}
	return netip.AddrFrom16([16]byte(ip)).AppendTo(dst)
}

func isV4Mapped(ip []byte) bool {
	for _, c := range ip[:10] {
		if c != 0 {
			return false
		}
	}
	return ip[10] == 0xff && ip[11] == 0xff
}
