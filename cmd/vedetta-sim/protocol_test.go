package main

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"
)

// testAgent serves a recording given as text.
func testAgent(t testing.TB, text string) *agent {
	t.Helper()
	r, err := parseRecording("t", strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	return &agent{community: "public", rec: r, start: time.Now()}
}

// request marshals a request with gosnmp (an independent encoder).
func marshal(t testing.TB, v gosnmp.SnmpVersion, pdu gosnmp.PDUType, nonRep uint8, maxRep uint32, oids ...string) []byte {
	t.Helper()
	p := &gosnmp.SnmpPacket{Version: v, Community: "public", PDUType: pdu, RequestID: 4242,
		NonRepeaters: nonRep, MaxRepetitions: maxRep}
	for _, o := range oids {
		p.Variables = append(p.Variables, gosnmp.SnmpPDU{Name: o, Type: gosnmp.Null})
	}
	b, err := p.MarshalMsg()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// exchange runs one request through the handler and decodes the answer
// with gosnmp (nil when the agent stays silent).
func exchange(t testing.TB, h *handler, a *agent, msg []byte) *gosnmp.SnmpPacket {
	t.Helper()
	resp := h.handle(a, msg)
	if resp == nil {
		return nil
	}
	if len(resp) > h.maxMsg {
		t.Fatalf("response of %d bytes > max-msg %d", len(resp), h.maxMsg)
	}
	p, err := (&gosnmp.GoSNMP{}).SnmpDecodePacket(resp)
	if err != nil {
		t.Fatalf("gosnmp cannot decode the response: %v", err)
	}
	if p.RequestID != 4242 || p.PDUType != gosnmp.GetResponse || p.Community != "public" {
		t.Fatalf("response header %+v", p)
	}
	return p
}

const valuesRec = `1.3.6.1.2.1.1.3.0|67|4294967295
1.3.6.1.2.1.1.1.0|4|hello
1.3.6.1.4.1.9.1|2|-129
1.3.6.1.4.1.9.2|2|2147483647
1.3.6.1.4.1.9.3|65|4294967295
1.3.6.1.4.1.9.4|70|18446744073709551615
1.3.6.1.4.1.9.5|64x|0a000001
1.3.6.1.4.1.9.6|4x|00ff80
1.3.6.1.4.1.9.7|6|1.3.6.1.4.1.200000.1
1.3.6.1.4.1.9.8|66|128
1.3.6.1.4.1.9.9|2:writecache|value=7
1.3.6.1.4.1.9.10|2:numeric|min=0,max=9
1.3.6.1.4.1.9.11|5|
1.3.6.1.4.1.9.1|2|-1
1.3.6.1.4.1.9.12|99|bogus
1.3.6.1.4.1.9.13|64|10.1.2.3
`

// TestValuesAndTypes: every type round-trips through gosnmp's decoder;
// duplicates keep the last line; variations use value=, or are skipped.
func TestValuesAndTypes(t *testing.T) {
	a := testAgent(t, valuesRec)
	if a.rec.skipped != 2 || len(a.rec.entries) != 13 {
		t.Fatalf("skipped %d, kept %d", a.rec.skipped, len(a.rec.entries))
	}
	h := newHandler(65507)
	p := exchange(t, h, a, marshal(t, gosnmp.Version2c, gosnmp.GetBulkRequest, 0, 50, ".1.3"))
	want := []struct {
		oid string
		typ gosnmp.Asn1BER
		val any
	}{
		{".1.3.6.1.2.1.1.1.0", gosnmp.OctetString, []byte("hello")},
		{".1.3.6.1.2.1.1.3.0", gosnmp.TimeTicks, uint32(4294967295)},
		{".1.3.6.1.4.1.9.1", gosnmp.Integer, -1},
		{".1.3.6.1.4.1.9.2", gosnmp.Integer, 2147483647},
		{".1.3.6.1.4.1.9.3", gosnmp.Counter32, uint(4294967295)},
		{".1.3.6.1.4.1.9.4", gosnmp.Counter64, uint64(18446744073709551615)},
		{".1.3.6.1.4.1.9.5", gosnmp.IPAddress, "10.0.0.1"},
		{".1.3.6.1.4.1.9.6", gosnmp.OctetString, []byte{0, 0xff, 0x80}},
		{".1.3.6.1.4.1.9.7", gosnmp.ObjectIdentifier, ".1.3.6.1.4.1.200000.1"},
		{".1.3.6.1.4.1.9.8", gosnmp.Gauge32, uint(128)},
		{".1.3.6.1.4.1.9.9", gosnmp.Integer, 7},
		{".1.3.6.1.4.1.9.11", gosnmp.Null, nil},
		{".1.3.6.1.4.1.9.13", gosnmp.IPAddress, "10.1.2.3"},
		{".1.3.6.1.4.1.9.13", gosnmp.EndOfMibView, nil},
	}
	if len(p.Variables) != len(want) {
		t.Fatalf("%d varbinds, want %d: %v", len(p.Variables), len(want), p.Variables)
	}
	for i, w := range want {
		v := p.Variables[i]
		if v.Name != w.oid || v.Type != w.typ || (w.val != nil && !equalValue(v.Value, w.val)) {
			t.Errorf("varbind %d: %s %v %#v, want %s %v %#v", i, v.Name, v.Type, v.Value, w.oid, w.typ, w.val)
		}
	}
	// v1 GETNEXT skips the Counter64; GET of it is noSuchName.
	p = exchange(t, h, a, marshal(t, gosnmp.Version1, gosnmp.GetNextRequest, 0, 0, ".1.3.6.1.4.1.9.3"))
	if p.Error != gosnmp.NoError || p.Variables[0].Name != ".1.3.6.1.4.1.9.5" {
		t.Errorf("v1 GETNEXT after a Counter32: %v %v", p.Error, p.Variables)
	}
	p = exchange(t, h, a, marshal(t, gosnmp.Version1, gosnmp.GetRequest, 0, 0, ".1.3.6.1.2.1.1.1.0", ".1.3.6.1.4.1.9.4"))
	if p.Error != gosnmp.NoSuchName || p.ErrorIndex != 2 || len(p.Variables) != 2 {
		t.Errorf("v1 GET of a Counter64: %v index %d %v", p.Error, p.ErrorIndex, p.Variables)
	}
	p = exchange(t, h, a, marshal(t, gosnmp.Version1, gosnmp.GetNextRequest, 0, 0, ".1.3.6.1.4.1.9.13"))
	if p.Error != gosnmp.NoSuchName || p.ErrorIndex != 1 {
		t.Errorf("v1 GETNEXT past the end: %v %d", p.Error, p.ErrorIndex)
	}
}

func equalValue(got, want any) bool {
	switch w := want.(type) {
	case []byte:
		g, ok := got.([]byte)
		return ok && string(g) == string(w)
	}
	return got == want
}

// TestGetBulkLimits: non-repeaters/max-repetitions, the size limit and
// requests a real agent ignores.
func TestGetBulkLimits(t *testing.T) {
	a := testAgent(t, valuesRec)
	h := newHandler(65507)
	// 1 non-repeater, 2 repeaters × 3: columns 9.1 and 9.5.
	p := exchange(t, h, a, marshal(t, gosnmp.Version2c, gosnmp.GetBulkRequest, 1, 3,
		".1.3.6.1.2.1.1.1.0", ".1.3.6.1.4.1.9.1", ".1.3.6.1.4.1.9.11"))
	got := []string{}
	for _, v := range p.Variables {
		got = append(got, v.Name+"/"+v.Type.String())
	}
	want := ".1.3.6.1.2.1.1.3.0/TimeTicks .1.3.6.1.4.1.9.2/Integer .1.3.6.1.4.1.9.13/IPAddress " +
		".1.3.6.1.4.1.9.3/Counter32 .1.3.6.1.4.1.9.13/EndOfMibView .1.3.6.1.4.1.9.4/Counter64 .1.3.6.1.4.1.9.13/EndOfMibView"
	if strings.Join(got, " ") != want {
		t.Errorf("GETBULK n=1 r=3:\n got %s\nwant %s", strings.Join(got, " "), want)
	}

	big := testAgent(t, func() string {
		var b strings.Builder
		for i := 1; i <= 500; i++ {
			b.WriteString("1.3.6.1.2.1.2.2.1.2." + itoa(i) + "|4|GigabitEthernet1/0/" + itoa(i) + "\n")
		}
		return b.String()
	}())
	small := newHandler(1472)
	p = exchange(t, small, big, marshal(t, gosnmp.Version2c, gosnmp.GetBulkRequest, 0, 1000, ".1.3"))
	if n := len(p.Variables); n < 20 || n >= 500 || p.Variables[n-1].Name != ".1.3.6.1.2.1.2.2.1.2."+itoa(n) {
		t.Errorf("GETBULK cut to 1472 bytes: %d varbinds, last %s", n, p.Variables[n-1].Name)
	}
	var oids []string
	for i := 1; i <= 100; i++ {
		oids = append(oids, ".1.3.6.1.2.1.2.2.1.2."+itoa(i))
	}
	p = exchange(t, small, big, marshal(t, gosnmp.Version2c, gosnmp.GetRequest, 0, 0, oids...))
	if p.Error != gosnmp.TooBig || len(p.Variables) != 0 {
		t.Errorf("GET over 1472 bytes: %v with %d varbinds, want tooBig and none", p.Error, len(p.Variables))
	}
	for name, msg := range map[string][]byte{
		"v1 GETBULK":      marshal(t, gosnmp.Version1, gosnmp.GetBulkRequest, 0, 5, ".1.3"),
		"SET":             marshal(t, gosnmp.Version2c, gosnmp.SetRequest, 0, 0, ".1.3.6.1.2.1.1.1.0"),
		"garbage":         []byte{0x30, 0x03, 0x02, 0x01},
		"truncated":       marshal(t, gosnmp.Version2c, gosnmp.GetRequest, 0, 0, ".1.3.6.1.2.1.1.1.0")[:20],
		"wrong community": []byte(strings.Replace(string(marshal(t, gosnmp.Version2c, gosnmp.GetRequest, 0, 0, ".1.3")), "public", "publix", 1)),
	} {
		if resp := h.handle(a, msg); resp != nil {
			t.Errorf("%s: answered %x", name, resp)
		}
	}
}

func itoa(i int) string { return formatOID([]uint32{uint32(i)}) }

// TestSharedTables: agents of one recording share its table.
func TestSharedTables(t *testing.T) {
	s := startSim(t, "--device", "ups="+recordingPath(t, "apc_smt750x-nmc2"), "--agents", "3")
	if s.agents[0].rec != s.agents[2].rec {
		t.Error("agents of one recording do not share the table")
	}
	c, err := net.Dial("udp", s.agents[1].addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = c.Write(marshal(t, gosnmp.Version2c, gosnmp.GetRequest, 0, 0, ".1.3.6.1.2.1.1.2.0"))
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 2048)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	p, err := (&gosnmp.GoSNMP{}).SnmpDecodePacket(buf[:n])
	if err != nil || p.Variables[0].Value != ".1.3.6.1.4.1.318.1.3.27" {
		t.Errorf("raw UDP GET: %v %v", p, err)
	}
}

// TestRecordingLikeSnmpsimd: a line is trimmed like snmpsimd trims it
// (trailing spaces of a plain string are lost, CRLF endings are fine),
// numbers written with leading zeros are numbers, and a value its type
// cannot carry (a redacted IpAddress, a number out of range) is skipped.
func TestRecordingLikeSnmpsimd(t *testing.T) {
	a := testAgent(t, "1.3.6.1.4.1.9.1|4|UPS 09.8   \r\n"+
		"1.3.6.1.4.1.9.2|4|  leading kept\n"+
		"1.3.6.1.4.1.9.3|2|0000000\n"+
		"1.3.6.1.4.1.9.4|70|0000000000\n"+
		"1.3.6.1.4.1.9.5|2|-007\n"+
		"1.3.6.1.4.1.9.6|64|<private>\n"+
		"1.3.6.1.4.1.9.7|2|2147483648\n"+
		"1.3.6.1.4.1.9.8|66|4294967296\n"+
		"1.3.6.1.4.1.9.9|4x|2020\n")
	if a.rec.skipped != 3 || len(a.rec.entries) != 6 {
		t.Fatalf("skipped %d, kept %d; want 3 and 6", a.rec.skipped, len(a.rec.entries))
	}
	p := exchange(t, newHandler(65507), a, marshal(t, gosnmp.Version2c, gosnmp.GetBulkRequest, 0, 10, ".1.3.6.1.4.1.9"))
	want := []struct {
		oid string
		typ gosnmp.Asn1BER
		val any
	}{
		{".1.3.6.1.4.1.9.1", gosnmp.OctetString, []byte("UPS 09.8")},
		{".1.3.6.1.4.1.9.2", gosnmp.OctetString, []byte("  leading kept")},
		{".1.3.6.1.4.1.9.3", gosnmp.Integer, 0},
		{".1.3.6.1.4.1.9.4", gosnmp.Counter64, uint64(0)},
		{".1.3.6.1.4.1.9.5", gosnmp.Integer, -7},
		{".1.3.6.1.4.1.9.9", gosnmp.OctetString, []byte("  ")},
	}
	if len(p.Variables) < len(want) {
		t.Fatalf("%d varbinds: %v", len(p.Variables), p.Variables)
	}
	for i, w := range want {
		v := p.Variables[i]
		if v.Name != w.oid || v.Type != w.typ || !equalValue(v.Value, w.val) {
			t.Errorf("varbind %d: %s %v %#v, want %s %v %#v", i, v.Name, v.Type, v.Value, w.oid, w.typ, w.val)
		}
	}
}
