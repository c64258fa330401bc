package snmp

import (
	"context"
	"fmt"
	"runtime"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/vedetta-dc/vedetta/collectors"
	"github.com/vedetta-dc/vedetta/internal/snmpwire"
	"github.com/vedetta-dc/vedetta/model"
)

// BenchmarkDecodeNormalize: the answers of one poll of a 48-port switch
// (IF-MIB, GETBULK responses of 25 varbinds as the agent sends them),
// decoded by snmpwire, indexed and normalized into samples: the
// per-varbind hot path of v1/v2c, from datagram to sample. In the steady
// state (the view's buffers and intern tables grown) it allocates nothing.
func BenchmarkDecodeNormalize(b *testing.B) {
	packets := switchPackets(b, 48)
	ps := []*Profile{EmbeddedProfiles().ByName("if-mib")}
	pool := benchViews()
	var m snmpwire.Message
	g := newGuard("", nil, nil) // a collector's, kept from poll to poll
	var in interns              // its client's
	// The setup's garbage collected first (a collection would empty the
	// pool in the loop), then one poll to warm: b.Loop counts from its
	// first call.
	runtime.GC()
	samples, varbinds := decodeNormalize(b, pool, &m, g, &in, packets, ps)
	b.ReportAllocs()
	for b.Loop() {
		samples, varbinds = decodeNormalize(b, pool, &m, g, &in, packets, ps)
	}
	if samples < 48*8 {
		b.Fatalf("%d samples", samples)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*varbinds), "ns/varbind")
}

// decodeNormalize is one poll's worth of BenchmarkDecodeNormalize.
func decodeNormalize(tb testing.TB, pool *sync.Pool, m *snmpwire.Message, g *guard, in *interns, packets [][]byte, ps []*Profile) (samples, varbinds int) {
	v := benchView(pool)
	v.useInterns(in) // as fetch does: the target's
	for _, pkt := range packets {
		if err := m.Decode(pkt); err != nil {
			tb.Fatal(err)
		}
		for k := range m.Varbinds {
			v.addVB(v.own(&m.Varbinds[k]), true)
		}
		varbinds += len(m.Varbinds)
	}
	v.finish()
	evaluate(ps, v, g, func(model.Sample) { samples++ })
	benchRelease(v, pool)
	return samples, varbinds
}

// TestDecodeNormalizeAllocatesNothing: once warm, a poll's decoding and
// normalizing (BenchmarkDecodeNormalize's work) allocates nothing, and
// gives the samples it gave cold.
func TestDecodeNormalizeAllocatesNothing(t *testing.T) {
	packets := switchPackets(t, 48)
	ps := []*Profile{EmbeddedProfiles().ByName("if-mib")}
	v := newView()
	pool := &sync.Pool{New: func() any { return v }} // one view, reused, even if the pool drops it
	var m snmpwire.Message
	g := newGuard("", nil, nil)
	var in interns
	want, _ := decodeNormalize(t, pool, &m, g, &in, packets, ps)
	if want < 48*8 {
		t.Fatalf("%d samples", want)
	}
	n := testing.AllocsPerRun(20, func() {
		if got, _ := decodeNormalize(t, pool, &m, g, &in, packets, ps); got != want {
			t.Fatalf("%d samples warm, %d cold", got, want)
		}
	})
	if n != 0 {
		t.Fatalf("%v allocations per poll in the steady state", n)
	}
}

// switchPackets are the GETBULK answers of a switch's IF-MIB, in OID
// order, 25 varbinds each, encoded by gosnmp.
func switchPackets(tb testing.TB, ports int) [][]byte {
	pdus := sortedSwitchPDUs(ports)
	var packets [][]byte
	for i := 0; i < len(pdus); i += 25 {
		resp := &gosnmp.SnmpPacket{Version: gosnmp.Version2c, Community: "public", PDUType: gosnmp.GetResponse,
			RequestID: uint32(i + 1), Variables: pdus[i:min(i+25, len(pdus))]}
		pkt, err := resp.MarshalMsg()
		if err != nil {
			tb.Fatal(err)
		}
		packets = append(packets, pkt)
	}
	return packets
}

// BenchmarkPollLoopback: one full poll (detection cached, GETBULK walks,
// decoding, normalizing) against an in-process agent on 127.0.0.1.
func BenchmarkPollLoopback(b *testing.B) {
	pdus := switchPDUs(48)
	r := newResponder(b, pdus)
	k, err := NewCollector("sw", Options{SNMP: Agent{Address: r.addr(), MaxRepetitions: 50}}, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := k.Poll(ctx, func(model.Sample) {}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.Poll(ctx, func(model.Sample) {}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(pdus))/1000, "µs/varbind")
}

// BenchmarkRound1000Targets5PercentDead: 1,000 agents polled at once (8
// in-process responders), 50 of them silent with a 500 ms timeout: the
// round lasts about one timeout, the dead ones do not delay the others.
func BenchmarkRound1000Targets5PercentDead(b *testing.B) { benchRound(b, 20) }

// BenchmarkRound1000TargetsAllLive is the control: the same round with no
// dead agent, to show the dead ones cost the live ones nothing.
func BenchmarkRound1000TargetsAllLive(b *testing.B) { benchRound(b, 0) }

func benchRound(b *testing.B, deadEvery int) {
	isDead := func(i int) bool { return deadEvery > 0 && i%deadEvery == 0 }
	var live []string
	for i := 0; i < 8; i++ {
		live = append(live, newResponder(b, switchPDUs(8)).addr())
	}
	dead := silentUDP(b)
	zero := 0
	var ks []*Collector
	kind := NewKind(nil, 1000)
	for i := 0; i < 1000; i++ {
		addr := live[i%len(live)]
		if isDead(i) {
			addr = dead
		}
		o := Options{SNMP: Agent{Address: addr, Timeout: 500 * time.Millisecond, Retries: &zero}}
		k, err := kind.New(collectors.Spec{Name: fmt.Sprint("t", i)}, func(out any) error { *out.(*Options) = o; return nil })
		if err != nil {
			b.Fatal(err)
		}
		ks = append(ks, k.(*Collector))
	}
	var failed int
	var liveWall time.Duration
	for b.Loop() {
		failed = 0
		var mu sync.Mutex
		var wg sync.WaitGroup
		start := time.Now()
		var lastLive time.Duration
		for i, k := range ks {
			wg.Go(func() {
				_, err := k.Poll(context.Background(), func(model.Sample) {})
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					failed++
				} else if !isDead(i) {
					lastLive = max(lastLive, time.Since(start))
				}
			})
		}
		wg.Wait()
		liveWall = lastLive
	}
	want := 0
	if deadEvery > 0 {
		want = 1000 / deadEvery
	}
	if failed != want {
		b.Fatalf("%d targets failed, want the %d dead ones", failed, want)
	}
	b.ReportMetric(float64(liveWall.Milliseconds()), "ms-last-live-target")
}

// BenchmarkDecodeNormalizePackets: the same as BenchmarkDecodeNormalize
// with gosnmp decoding the datagrams (what every answer went through
// before snmpwire, and what SNMPv3 answers still do), for comparison.
func BenchmarkDecodeNormalizePackets(b *testing.B) {
	pdus := sortedSwitchPDUs(48)
	packets := switchPackets(b, 48)
	ps := []*Profile{EmbeddedProfiles().ByName("if-mib")}
	dec := &gosnmp.GoSNMP{Version: gosnmp.Version2c, Logger: gosnmp.NewLogger(nil)}
	samples := 0
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	b.ReportAllocs()
	pool := benchViews()
	for b.Loop() {
		samples = 0
		v := benchView(pool)
		for _, pkt := range packets {
			r, err := dec.SnmpDecodePacket(pkt)
			if err != nil {
				b.Fatal(err)
			}
			for _, p := range r.Variables {
				v.add(p, true)
			}
		}
		v.finish()
		evaluate(ps, v, nil, func(model.Sample) { samples++ })
		benchRelease(v, pool)
	}
	runtime.ReadMemStats(&m1)
	n := float64(b.N * len(pdus))
	if samples < 48*8 {
		b.Fatalf("%d samples", samples)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/varbind")
	b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/n, "allocs/varbind")
}

// sortedSwitchPDUs is switchPDUs in OID order (column after column).
func sortedSwitchPDUs(ports int) []gosnmp.SnmpPDU {
	pdus := switchPDUs(ports)
	sort.Slice(pdus, func(i, j int) bool { return compareOID(pdus[i].Name, pdus[j].Name) < 0 })
	return pdus
}

// The views of a benchmark come from a pool, as a collector's do.
func benchViews() *sync.Pool                { return newViewPool() }
func benchView(pool *sync.Pool) *view       { return pool.Get().(*view) }
func benchRelease(v *view, pool *sync.Pool) { v.release(pool) }
