package snmpwire

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"testing"
	"unsafe"

	"github.com/gosnmp/gosnmp"
)

// The seed corpora in testdata/fuzz/ are real answers (snmpsimd-*):
// snmpsimd serving the recordings of ../shared/testdata/snmprec to GETBULK
// (v2c) and GETNEXT (v1) requests, written by
//
//	CI=true go test -run TestRealAnswersMatchGosnmp ./internal/snmpwire -capture
//
// (seeds_test.go), and inputs the fuzzers found (quirk-*); the packets of
// syntheticPackets are added in code.

// syntheticPackets are answers gosnmp encodes with a value of every type
// vedetta reads, and a few an agent gets wrong.
func syntheticPackets(t testing.TB) [][]byte {
	t.Helper()
	var out [][]byte
	for _, vbs := range [][]gosnmp.SnmpPDU{
		{
			{Name: ".1.3.6.1.2.1.1.1.0", Type: gosnmp.OctetString, Value: []byte("Linux rig 6.1")},
			{Name: ".1.3.6.1.2.1.1.2.0", Type: gosnmp.ObjectIdentifier, Value: ".1.3.6.1.4.1.8072.3.2.10"},
			{Name: ".1.3.6.1.2.1.1.3.0", Type: gosnmp.TimeTicks, Value: uint32(4294967295)},
			{Name: ".1.3.6.1.2.1.2.2.1.10.1", Type: gosnmp.Counter32, Value: uint(4294967295)},
			{Name: ".1.3.6.1.2.1.2.2.1.5.1", Type: gosnmp.Gauge32, Value: uint(1000000000)},
			{Name: ".1.3.6.1.2.1.31.1.1.1.6.1", Type: gosnmp.Counter64, Value: uint64(math.MaxUint64)},
			{Name: ".1.3.6.1.2.1.99.1.1.1.4.1", Type: gosnmp.Integer, Value: math.MinInt32},
			{Name: ".1.3.6.1.2.1.4.20.1.1.10.0.0.1", Type: gosnmp.IPAddress, Value: "10.0.0.1"},
		},
		{
			{Name: ".1.3.6.1.2.1.33.1.2.4.0", Type: gosnmp.NoSuchInstance},
			{Name: ".1.3.6.1.2.1.33.1.2.5.0", Type: gosnmp.NoSuchObject},
			{Name: ".1.3.6.1.2.1.33.1.2.6.0", Type: gosnmp.Null},
			{Name: ".1.3.6.1.9.9", Type: gosnmp.EndOfMibView},
			{Name: ".1.3.6.1.4.1.2021.10.1.6.1", Type: gosnmp.OpaqueFloat, Value: float32(0.25)},
			{Name: ".1.3.6.1.4.1.2021.10.1.6.2", Type: gosnmp.OpaqueDouble, Value: float64(-1.5)},
			{Name: ".1.3.6.1.2.1.2.2.1.6.1", Type: gosnmp.OctetString, Value: []byte{0xac, 0x7e, 0x8a, 0x19, 0xbf, 0x40}},
			{Name: ".2.999.4294967295", Type: gosnmp.Uinteger32, Value: uint32(7)},
		},
	} {
		for _, v := range []gosnmp.SnmpVersion{gosnmp.Version1, gosnmp.Version2c} {
			p := &gosnmp.SnmpPacket{Version: v, Community: "public", PDUType: gosnmp.GetResponse, RequestID: 0x7fffffff, Variables: vbs}
			b, err := p.MarshalMsg()
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, b)
		}
	}
	// An empty answer, a tooBig, and a packet cut short.
	p := &gosnmp.SnmpPacket{Version: gosnmp.Version2c, Community: "x", PDUType: gosnmp.GetResponse, RequestID: 9, Error: gosnmp.TooBig, ErrorIndex: 2}
	b, err := p.MarshalMsg()
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, b, out[0][:len(out[0])-3])
	return append(out, quirkPackets()...)
}

// tlv is one BER element with a definite length.
func tlv(tag byte, parts ...[]byte) []byte {
	body := bytes.Join(parts, nil)
	return append(appendTL([]byte{tag}, len(body)), body...)
}

// quirkPackets are answers written by hand where gosnmp reads something
// odd, each as one varbind in an otherwise good v2c answer (and a few odd
// envelopes): what a decoder of its own most easily reads otherwise.
func quirkPackets() [][]byte {
	oid := tlv(0x06, []byte{0x2b, 6, 1, 2, 1, 1, 3, 0})
	msg := func(pduType byte, name []byte, value ...byte) []byte {
		vb := tlv(0x30, name, value)
		return tlv(0x30, tlv(0x02, []byte{1}), tlv(0x04, []byte("public")),
			tlv(pduType, tlv(0x02, []byte{0x12, 0x34}), tlv(0x02, []byte{0}), tlv(0x02, []byte{0}), tlv(0x30, vb)))
	}
	answer := func(value ...byte) []byte { return msg(0xa2, oid, value...) }
	return [][]byte{
		answer(0x43, 5, 0x01, 0xff, 0xff, 0xff, 0xff),                      // TimeTicks wider than 32 bits: truncated
		answer(0x41, 9, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), // Counter32 of 9 bytes, a leading zero
		answer(0x42, 10, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8),                     // Gauge32 too wide: an untyped varbind
		answer(0x46, 9, 1, 0, 0, 0, 0, 0, 0, 0, 0),                         // Counter64 too wide
		answer(0x47, 1, 0xff),                                              // Uinteger32 read as a signed INTEGER
		answer(0x02, 9, 0, 0, 0, 0, 0, 0, 0, 0, 1),                         // INTEGER too wide: rejected
		answer(0x02, 0), // empty INTEGER: rejected
		answer(0x40, 0), // empty IpAddress: no value
		answer(0x40, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1), // IPv4-mapped IPv6
		answer(0x40, 16, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1),
		answer(0x40, 5, 1, 2, 3, 4, 5),                                                  // IpAddress of 5 bytes: rejected
		answer(0x44, 7, 0x9f, 0x78, 4, 0x3f, 0x80, 0, 0),                                // Opaque float
		answer(0x44, 11, 0x9f, 0x79, 8, 0x40, 0x09, 0x21, 0xfb, 0x54, 0x44, 0x2d, 0x18), // Opaque double
		answer(0x44, 6, 0x9f, 0x78, 3, 0x3f, 0x80, 0),                                   // Opaque float of 3 bytes: rejected
		answer(0x44, 3, 1, 2, 3),                                                        // plain Opaque
		answer(0x05, 2, 0xde, 0xad),                                                     // Null with content
		answer(0x03, 2, 0, 1),                                                           // BIT STRING: unknown to gosnmp
		answer(0x06, 0),                                                                 // empty OID value: .0.0
		answer(0x06, 2, 0x88, 0x37),                                                     // OID 2.999
		answer(0x06, 1, 0x88),                                                           // OID cut inside an arc: rejected
		answer(0x06, 5, 0x8f, 0xff, 0xff, 0xff, 0x7f),                                   // arc above 2^32: rejected
		answer(0x04, 4, 'a', 'b', 'c'),                                                  // OCTET STRING one byte over its varbind (MikroTik)
		answer(0x04, 0x81, 3, 'a', 'b', 'c'),                                            // long form length
		answer(0x04, 0x80, 'a'),                                                         // indefinite length: rejected
		msg(0xa2, tlv(0x04, []byte("ifIndex.1")), 0x02, 1, 1),                           // a name sent as OCTET STRING
		msg(0xa2, tlv(0x40, []byte{10, 0, 0, 1}), 0x02, 1, 1),                           // a name sent as IpAddress
		msg(0xa2, tlv(0x02, []byte{1}), 0x02, 1, 1),                                     // a name sent as INTEGER: rejected
		msg(0xa2, []byte{0x40, 0}, 0x02, 1, 1),                                          // a name sent as an empty IpAddress: rejected
		msg(0xa2, tlv(0x43, []byte{1}), 0x02, 1, 1),                                     // a name sent as TimeTicks: rejected
		msg(0xa5, oid, 0x05, 0),                                                         // a GetBulkRequest PDU: non-repeaters, max-repetitions
		msg(0xa8, oid, 0x41, 1, 1),                                                      // a Report
		msg(0xa4, oid, 0x05, 0),                                                         // a v1 trap: not a response
		msg(0xa9, oid, 0x05, 0),                                                         // an unknown PDU
		tlv(0x30, tlv(0x04, []byte("v2")), tlv(0x04, []byte("public")), // version as OCTET STRING: v1 to gosnmp
			tlv(0xa2, tlv(0x02, []byte{1}), tlv(0x02, []byte{0}), tlv(0x02, []byte{0}), tlv(0x30, tlv(0x30, oid, []byte{0x05, 0})))),
		tlv(0x30, tlv(0x02, []byte{2}), tlv(0x04, []byte("public")), // version 2 (no such version): read as a community message
			tlv(0xa2, tlv(0x02, []byte{1}), tlv(0x02, []byte{0}), tlv(0x02, []byte{0}), tlv(0x30, tlv(0x30, oid, []byte{0x05, 0})))),
		tlv(0x30, tlv(0x02, []byte{1}), tlv(0x43, []byte{5}), // community as TimeTicks: none
			tlv(0xa2, tlv(0x02, []byte{1}), tlv(0x02, []byte{0}), tlv(0x02, []byte{0}), tlv(0x30, tlv(0x30, oid, []byte{0x05, 0})))),
		tlv(0x30, tlv(0x02, []byte{1, 1}), tlv(0x04, []byte("public")), // version 257: 1 to gosnmp (uint8)
			tlv(0xa2, tlv(0x02, []byte{1}), tlv(0x02, []byte{0}), tlv(0x02, []byte{0}), tlv(0x30, tlv(0x30, oid, []byte{0x05, 0})))),
		tlv(0x30, tlv(0x02, []byte{1}), tlv(0x04, []byte("public")), // empty varbind list
			tlv(0xa2, tlv(0x02, []byte{1}), tlv(0x02, []byte{0}), tlv(0x02, []byte{0}), tlv(0x30))),
	}
}

// gosnmpDecode is gosnmp's reading of pkt (a panic counts as a rejection,
// reported in panicked: FuzzDecodeResponse is where gosnmp's own panics
// are hunted).
func gosnmpDecode(dec *gosnmp.GoSNMP, pkt []byte) (p *gosnmp.SnmpPacket, err error, panicked bool) {
	defer func() {
		if r := recover(); r != nil {
			p, err, panicked = nil, fmt.Errorf("gosnmp panicked: %v", r), true
		}
	}()
	p, err = dec.SnmpDecodePacket(pkt)
	return p, err, false
}

// diff says how a varbind of ours differs from gosnmp's ("": it does not).
func diff(vb Varbind, p gosnmp.SnmpPDU) string {
	if string(vb.Name) != p.Name {
		return fmt.Sprintf("name %q, gosnmp %q", vb.Name, p.Name)
	}
	if vb.Type != p.Type {
		return fmt.Sprintf("%s: type %v, gosnmp %v", p.Name, vb.Type, p.Type)
	}
	ours := any(nil)
	switch vb.Type {
	case gosnmp.Integer:
		ours = int(vb.Int)
	case gosnmp.Uinteger32, gosnmp.TimeTicks:
		// Uint is what vedetta reads: all of it must be gosnmp's uint32.
		if v, ok := p.Value.(uint32); !ok || vb.Uint != uint64(v) {
			return fmt.Sprintf("%s: value %d, gosnmp %#v", p.Name, vb.Uint, p.Value)
		}
		return ""
	case gosnmp.Counter32, gosnmp.Gauge32:
		if v, ok := p.Value.(uint); !ok || vb.Uint != uint64(v) {
			return fmt.Sprintf("%s: value %d, gosnmp %#v", p.Name, vb.Uint, p.Value)
		}
		return ""
	case gosnmp.Counter64:
		ours = vb.Uint
	case gosnmp.OctetString, gosnmp.Opaque:
		if b, ok := p.Value.([]byte); !ok || !bytes.Equal(b, vb.Bytes) {
			return fmt.Sprintf("%s: bytes %x, gosnmp %#v", p.Name, vb.Bytes, p.Value)
		}
		return ""
	case gosnmp.ObjectIdentifier:
		ours = string(vb.Bytes)
	case gosnmp.IPAddress:
		if vb.Bytes != nil {
			ours = string(AppendIP(nil, vb.Bytes))
		}
	case gosnmp.OpaqueFloat:
		f, ok := p.Value.(float32)
		if !ok || !(float32(vb.Float) == f || (math.IsNaN(vb.Float) && f != f)) {
			return fmt.Sprintf("%s: float %v, gosnmp %#v", p.Name, vb.Float, p.Value)
		}
		return ""
	case gosnmp.OpaqueDouble:
		f, ok := p.Value.(float64)
		if !ok || !(vb.Float == f || (math.IsNaN(vb.Float) && math.IsNaN(f))) {
			return fmt.Sprintf("%s: double %v, gosnmp %#v", p.Name, vb.Float, p.Value)
		}
		return ""
	}
	if ours != p.Value {
		return fmt.Sprintf("%s: value %#v, gosnmp %#v", p.Name, ours, p.Value)
	}
	return ""
}

// compare fails t when m and gosnmp's reading of the same packet differ.
func compare(t *testing.T, m *Message, p *gosnmp.SnmpPacket) {
	t.Helper()
	if m.Version != p.Version || string(m.Community) != p.Community || m.PDUType != p.PDUType ||
		m.RequestID != p.RequestID || m.Error != p.Error || m.ErrorIndex != p.ErrorIndex ||
		m.NonRepeaters != p.NonRepeaters || m.MaxRepetitions != p.MaxRepetitions {
		t.Fatalf("header: ours v%d %q %v id %d err %v/%d nr %d mr %d; gosnmp v%d %q %v id %d err %v/%d nr %d mr %d",
			m.Version, m.Community, m.PDUType, m.RequestID, m.Error, m.ErrorIndex, m.NonRepeaters, m.MaxRepetitions,
			p.Version, p.Community, p.PDUType, p.RequestID, p.Error, p.ErrorIndex, p.NonRepeaters, p.MaxRepetitions)
	}
	if len(m.Varbinds) != len(p.Variables) {
		t.Fatalf("%d varbinds, gosnmp %d", len(m.Varbinds), len(p.Variables))
	}
	for i, vb := range m.Varbinds {
		if d := diff(vb, p.Variables[i]); d != "" {
			t.Fatalf("varbind %d: %s", i, d)
		}
	}
}

// FuzzWireVsGosnmp is the differential test of the response decoder: the
// same bytes go to gosnmp's SnmpDecodePacket and to Message.Decode, which
// must read the same header and the same varbinds (name, type, value), or
// both reject the packet. SNMPv3 messages are left to gosnmp (ErrV3), and
// so are v1 traps (ErrTrap: not a response). Each input is tried as it is
// and with the lengths of its SEQUENCEs and PDU recomputed (fixLengths):
// a mutated value or name inside a packet whose envelope still holds
// together, which is where the two decoders could part (a raw mutation
// mostly breaks the outer length, and both reject it there).
func FuzzWireVsGosnmp(f *testing.F) {
	for _, p := range syntheticPackets(f) {
		f.Add(p)
	}
	dec := &gosnmp.GoSNMP{Version: gosnmp.Version2c, Logger: gosnmp.NewLogger(nil)}
	var m Message
	f.Fuzz(func(t *testing.T, pkt []byte) {
		differential(t, dec, &m, pkt)
		differential(t, dec, &m, fixLengths(pkt))
	})
}

func differential(t *testing.T, dec *gosnmp.GoSNMP, m *Message, pkt []byte) {
	t.Helper()
	err := m.Decode(pkt)
	if errors.Is(err, ErrV3) || errors.Is(err, ErrTrap) {
		return
	}
	want, gerr, panicked := gosnmpDecode(dec, pkt)
	if panicked {
		return // nothing to compare with; ours did not panic
	}
	switch {
	case err != nil && gerr != nil:
		return
	case err != nil:
		t.Fatalf("%x: we reject (%v), gosnmp reads %d varbinds", pkt, err, len(want.Variables))
	case gerr != nil:
		t.Fatalf("%x: gosnmp rejects (%v), we read %d varbinds", pkt, gerr, len(m.Varbinds))
	}
	compare(t, m, want)
	for _, p := range want.Variables { // the SNMPv3 path: gosnmp's varbinds converted
		if d := diff(FromPDU(p), p); d != "" {
			t.Fatalf("FromPDU: %s", d)
		}
	}
}

// fixLengths rewrites the length of every SEQUENCE and PDU in b to what it
// holds (its parts as long as they declare, cut at the end of the data);
// the parts themselves are kept byte for byte.
func fixLengths(b []byte) []byte { return fixTLVs(nil, b, 0) }

func fixTLVs(out, b []byte, depth int) []byte {
	for len(b) > 0 {
		length, cur, err := parseLength(b)
		if err != nil || cur > len(b) || length < cur {
			return append(out, b...)
		}
		end := min(length, len(b))
		tag := b[0]
		if depth > 6 || !(tag == 0x30 || (tag >= 0xa0 && tag <= 0xa8)) {
			out = append(out, b[:end]...)
		} else {
			content := fixTLVs(nil, b[cur:end], depth+1)
			out = appendTL(append(out, tag), len(content))
			out = append(out, content...)
		}
		b = b[end:]
	}
	return out
}

func appendTL(out []byte, n int) []byte {
	switch {
	case n < 128:
		return append(out, byte(n))
	case n < 256:
		return append(out, 0x81, byte(n))
	case n < 65536:
		return append(out, 0x82, byte(n>>8), byte(n))
	}
	return append(out, 0x83, byte(n>>16), byte(n>>8), byte(n))
}

// FuzzWire feeds garbage, truncated and oversized packets to Decode: it
// must not panic, must reject a packet cut short or with bytes after its
// end, and its views must stay inside the packet or its own text buffer,
// whose size is bounded by the packet's.
func FuzzWire(f *testing.F) {
	for _, p := range syntheticPackets(f) {
		f.Add(p)
	}
	f.Add(bytes.Repeat([]byte{0x30, 0x84, 0x7f, 0xff, 0xff, 0xff}, 3))
	f.Fuzz(func(t *testing.T, pkt []byte) {
		checkWire(t, pkt)
		checkWire(t, fixLengths(pkt))
	})
}

func checkWire(t *testing.T, pkt []byte) {
	t.Helper()
	{
		var m Message
		err := m.Decode(pkt)
		if len(m.Varbinds) > len(pkt)/2 || cap(m.text) > 4*len(pkt)+8 {
			t.Fatalf("%d varbinds, text buffer %d for a packet of %d bytes", len(m.Varbinds), cap(m.text), len(pkt))
		}
		if err != nil {
			return
		}
		for _, vb := range m.Varbinds {
			for _, s := range [][]byte{vb.Name, vb.Bytes} {
				if len(s) > 0 && !within(s, pkt) && !within(s, m.text[:cap(m.text)]) {
					t.Fatalf("view %q outside the packet and the text buffer", s)
				}
			}
		}
		n := len(m.Varbinds)
		var cut Message
		if len(pkt) > 0 && cut.Decode(pkt[:len(pkt)-1]) == nil && len(cut.Varbinds) == n {
			t.Fatal("a packet cut short by one byte decodes the same")
		}
		if cut.Decode(append(pkt[:len(pkt):len(pkt)], 0)) == nil {
			t.Fatal("a packet with a byte after its end decodes")
		}
	}
}

func within(s, buf []byte) bool {
	if len(buf) == 0 {
		return false
	}
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(buf)))
	p := uintptr(unsafe.Pointer(unsafe.SliceData(s)))
	return p >= lo && p+uintptr(len(s)) <= lo+uintptr(len(buf))
}

// TestDecodeMatchesGosnmp runs the differential check on the synthetic
// packets (the fuzz seeds run under plain go test too), and checks that
// it would see a difference.
func TestDecodeMatchesGosnmp(t *testing.T) {
	dec := &gosnmp.GoSNMP{Version: gosnmp.Version2c, Logger: gosnmp.NewLogger(nil)}
	pkts := syntheticPackets(t)
	for i, pkt := range pkts {
		var m Message
		err := m.Decode(pkt)
		want, gerr, _ := gosnmpDecode(dec, pkt)
		if (err == nil) != (gerr == nil) {
			t.Fatalf("packet %d: ours %v, gosnmp %v", i, err, gerr)
		}
		if err == nil {
			compare(t, &m, want)
		}
	}
	var m Message
	if err := m.Decode(pkts[0]); err != nil || len(m.Varbinds) != 8 {
		t.Fatalf("%v, %d varbinds", err, len(m.Varbinds))
	}
	want, _, _ := gosnmpDecode(dec, pkts[0])
	for i := range m.Varbinds {
		vb := m.Varbinds[i]
		vb.Uint++
		vb.Int++
		vb.Bytes = append([]byte("x"), vb.Bytes...)
		if diff(vb, want.Variables[i]) == "" {
			t.Fatalf("varbind %d: a changed value compares equal", i)
		}
	}
}

// TestDecodeAllocatesNothing: once a Message has decoded an answer of a
// size, decoding answers of that size allocates nothing.
func TestDecodeAllocatesNothing(t *testing.T) {
	pkt := syntheticPackets(t)[1]
	var m Message
	if err := m.Decode(pkt); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() {
		if err := m.Decode(pkt); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("%v allocations per decode", n)
	}
}
