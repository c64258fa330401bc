package main

import (
	"net"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"
)

// benchAgent serves the Catalyst 2960-X recording (10,842 OIDs) through
// its live table, as the simulator does (one atomic load per request).
func benchAgent(b *testing.B) *agent {
	r, err := loadRecording("ios_2960x", recordingPath(b, "ios_2960x"))
	if err != nil {
		b.Fatal(err)
	}
	a := &agent{community: "public", rec: r, start: time.Now()}
	(&sim{agents: []*agent{a}}).initLive()
	return a
}

// ifDescr.1: a GETBULK of 25 from there returns 25 interface rows.
const benchStart = ".1.3.6.1.2.1.2.2.1.2"

// BenchmarkGetBulk is the request → response path of one GETBULK with
// max-repetitions 25 (decode, 25 binary-search/next steps, encode), without
// the socket.
func BenchmarkGetBulk(b *testing.B) {
	a := benchAgent(b)
	h := newHandler(65507)
	msg := marshal(b, gosnmp.Version2c, gosnmp.GetBulkRequest, 0, 25, benchStart)
	if p := exchange(b, h, a, msg); len(p.Variables) != 25 {
		b.Fatalf("%d varbinds", len(p.Variables))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if h.handle(a, msg) == nil {
			b.Fatal("no answer")
		}
	}
}

// BenchmarkGetBulkCounterRate is BenchmarkGetBulk with moving counters.
func BenchmarkGetBulkCounterRate(b *testing.B) {
	a := benchAgent(b)
	a.rate = 1000
	h := newHandler(65507)
	msg := marshal(b, gosnmp.Version2c, gosnmp.GetBulkRequest, 0, 25, ".1.3.6.1.2.1.2.2.1.10")
	b.ReportAllocs()
	for b.Loop() {
		if h.handle(a, msg) == nil {
			b.Fatal("no answer")
		}
	}
}

// BenchmarkGetBulkGosnmp is the same work done with gosnmp's decoder and
// MarshalMsg, to justify the hand-written BER.
func BenchmarkGetBulkGosnmp(b *testing.B) {
	a := benchAgent(b)
	vals := make([]gosnmp.SnmpPDU, len(a.rec.entries))
	for i, e := range a.rec.entries {
		p, err := (&gosnmp.GoSNMP{}).SnmpDecodePacket(wrapVarbind(e.vb))
		if err != nil {
			b.Fatal(err)
		}
		vals[i] = p.Variables[0]
	}
	msg := marshal(b, gosnmp.Version2c, gosnmp.GetBulkRequest, 0, 25, benchStart)
	dec := &gosnmp.GoSNMP{Version: gosnmp.Version2c}
	var oid []uint32
	b.ReportAllocs()
	for b.Loop() {
		req, err := dec.SnmpDecodePacket(msg)
		if err != nil {
			b.Fatal(err)
		}
		oid, _ = parseDotted(req.Variables[0].Name)
		i := a.rec.next(oid)
		out := vals[i : i+int(req.MaxRepetitions)]
		resp := &gosnmp.SnmpPacket{Version: gosnmp.Version2c, Community: req.Community, PDUType: gosnmp.GetResponse,
			RequestID: req.RequestID, Variables: out}
		if _, err := resp.MarshalMsg(); err != nil {
			b.Fatal(err)
		}
	}
}

// wrapVarbind makes a response message around one pre-encoded varbind.
func wrapVarbind(vb []byte) []byte {
	h := newHandler(65507)
	h.w = headroom + copy(h.out[headroom:], vb)
	q := &request{version: 1, community: []byte("public"), reqID: []byte{2, 1, 1}}
	return h.wrap(q, 0, 0)
}

// BenchmarkUDPGetBulk measures whole round trips over loopback to one
// agent (client and server on this machine): requests/s = 1e9 / ns/op.
func BenchmarkUDPGetBulk(b *testing.B) {
	s := startSim(b, "--device", "sw="+recordingPath(b, "ios_2960x"))
	c, err := net.Dial("udp", s.agents[0].addr())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	msg := marshal(b, gosnmp.Version2c, gosnmp.GetBulkRequest, 0, 25, benchStart)
	buf := make([]byte, 65535)
	b.ReportAllocs()
	start := time.Now()
	n := 0
	for b.Loop() {
		_, _ = c.Write(msg)
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		if _, err := c.Read(buf); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "req/s")
}
