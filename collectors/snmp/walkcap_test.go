package snmp

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"
	"go.yaml.in/yaml/v3"

	"github.com/vedetta-dc/vedetta/collectors"
	"github.com/vedetta-dc/vedetta/model"
)

// endlessColumn is the table column the endless agent never ends.
const endlessColumn = "1.3.6.1.4.1.99999.7.1.2"

// endlessAgent is a fake SNMPv2c agent on 127.0.0.1 (requests decoded and
// answers encoded by gosnmp) whose table column never ends, as a looping
// firmware does: GETBULK after endlessColumn.i answers i+1 ... i+n, for
// ever. Modes: "int" (INTEGER values), "fat" (4,000-byte strings, numbers as text), "loop"
// (answers the first row again and again: not increasing).
type endlessAgent struct {
	conn     *net.UDPConn
	mode     string
	requests atomic.Int64
}

func startEndlessAgent(t testing.TB, mode string) *endlessAgent {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	a := &endlessAgent{conn: c, mode: mode}
	done := make(chan struct{})
	go func() { defer close(done); a.serve() }()
	t.Cleanup(func() { c.Close(); <-done })
	return a
}

func (a *endlessAgent) addr() string { return a.conn.LocalAddr().String() }

func (a *endlessAgent) serve() {
	dec := &gosnmp.GoSNMP{Version: gosnmp.Version2c}
	buf := make([]byte, 65535)
	fat := []byte("1" + strings.Repeat(" ", 3999)) // a number, as text
	for {
		n, from, err := a.conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		req, err := dec.SnmpDecodePacket(buf[:n])
		if err != nil || len(req.Variables) == 0 {
			continue
		}
		a.requests.Add(1)
		var out []gosnmp.SnmpPDU
		cur := trimOID(req.Variables[0].Name)
		switch {
		case req.PDUType != gosnmp.GetBulkRequest:
			for _, v := range req.Variables {
				out = append(out, gosnmp.SnmpPDU{Name: v.Name, Type: gosnmp.NoSuchObject})
			}
		case a.mode == "loop":
			out = append(out, gosnmp.SnmpPDU{Name: "." + endlessColumn + ".1", Type: gosnmp.Integer, Value: 1})
		default:
			i := 0
			if rest, ok := strings.CutPrefix(cur, endlessColumn+"."); ok {
				i, _ = strconv.Atoi(rest)
			}
			reps := int(req.MaxRepetitions)
			if a.mode == "fat" {
				reps = min(reps, 10) // stay under a UDP datagram
			}
			for j := 1; j <= reps; j++ {
				p := gosnmp.SnmpPDU{Name: "." + endlessColumn + "." + strconv.Itoa(i+j), Type: gosnmp.Integer, Value: i + j}
				if a.mode == "fat" {
					p.Type, p.Value = gosnmp.OctetString, fat
				}
				out = append(out, p)
			}
		}
		resp := &gosnmp.SnmpPacket{Version: gosnmp.Version2c, Community: req.Community, PDUType: gosnmp.GetResponse,
			RequestID: req.RequestID, Variables: out}
		b, err := resp.MarshalMsg()
		if err != nil {
			panic(fmt.Sprintf("endless agent: %v", err))
		}
		_, _ = a.conn.WriteToUDP(b, from)
	}
}

// endlessProfiles is the embedded set plus one profile that walks
// endlessColumn, one sample per row.
func endlessProfiles(t testing.TB) *ProfileSet {
	t.Helper()
	dir := t.TempDir()
	p := "name: endless\nmib: TEST-ENDLESS-MIB\nmatch: {subtrees: [1.3.6.1.4.1.99999.7]}\n" +
		"metrics:\n  - {name: endless_rows, walk: " + endlessColumn + ", aggregate: count}\n"
	if err := os.WriteFile(filepath.Join(dir, "endless.yaml"), []byte(p), 0o644); err != nil {
		t.Fatal(err)
	}
	set, err := LoadProfiles([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// logBuffer is a slog handler target safe for concurrent writes.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// heapPeak samples the heap's object bytes every millisecond until stop.
func heapPeak() (stop func() uint64) {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	var peak atomic.Uint64
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			if v := sample[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-quit:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 { close(quit); <-done; return peak.Load() }
}

func heapNow() uint64 {
	runtime.GC()
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// An agent that walks for ever costs max_walk_varbinds objects (1 KiB
// each at most, on average) and no more: the walk stops there, the poll
// succeeds with the rows it read, vedetta_snmp_walk_truncated_total counts
// it, one warning is logged, and the heap stays bounded.
func TestWalkStopsAtCapOnEndlessAgent(t *testing.T) {
	set := endlessProfiles(t)
	tests := []struct {
		name    string
		mode    string
		extra   string // more snmp: options
		cap     int
		byBytes bool // the byte budget (1 KiB per object) stops it first
	}{
		{"default cap", "int", "", DefaultMaxWalkVarbinds, false},
		{"max_walk_varbinds per target", "int", ", max_walk_varbinds: 300", 300, false},
		{"byte budget of fat values", "fat", ", max_walk_varbinds: 1000", 1000, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			agent := startEndlessAgent(t, tc.mode)
			var logs logBuffer
			log := slog.New(slog.NewTextHandler(&logs, nil))
			opts := fmt.Sprintf("snmp: {address: %q, timeout: 2s, max_repetitions: 50%s}\nprofiles: [endless]\n", agent.addr(), tc.extra)
			c, err := NewKind(set, 1).New(collectors.Spec{Name: "loopy", Logger: log}, func(out any) error {
				dec := yaml.NewDecoder(strings.NewReader(opts))
				dec.KnownFields(true)
				return dec.Decode(out)
			})
			if err != nil {
				t.Fatal(err)
			}
			base := heapNow()
			for round := 1; round <= 2; round++ {
				peak := heapPeak()
				before := agent.requests.Load()
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				start := time.Now()
				got := map[string]float64{}
				err := c.Collect(ctx, func(s model.Sample) { got[s.Name+s.Labels.String()] = s.Value })
				took := time.Since(start)
				cancel()
				grew := int64(peak()) - int64(base)
				if err != nil {
					t.Fatalf("round %d: the poll failed: %v", round, err)
				}
				rows := got["endless_rows{}"]
				switch {
				case !tc.byBytes && rows != float64(tc.cap):
					t.Errorf("round %d: %v rows, want the walk to stop at %d", round, rows, tc.cap)
				case tc.byBytes && (rows < float64(tc.cap)/5 || rows > float64(tc.cap*1024/4000)):
					t.Errorf("round %d: %v rows of 4 KB, want the %d KiB budget to stop the walk", round, rows, tc.cap)
				}
				if v := got[`vedetta_snmp_walk_truncated_total{walk="`+endlessColumn+`"}`]; v != float64(round) {
					t.Errorf("round %d: vedetta_snmp_walk_truncated_total = %v, want %d (samples: %v)", round, v, round, got)
				}
				t.Logf("round %d: %v rows in %v, %d requests, heap peak +%.1f MiB", round, rows, took.Round(time.Millisecond),
					agent.requests.Load()-before, float64(grew)/(1<<20))
				if grew > 64<<20 {
					t.Errorf("round %d: the heap grew by %d MiB during one poll", round, grew>>20)
				}
			}
			if n := strings.Count(logs.String(), "level=WARN"); n != 1 {
				t.Errorf("%d warnings about the truncated walk, want one:\n%s", n, logs.String())
			}
		})
	}
}

// A walk whose OIDs do not increase fails at once instead of looping: the
// poll fails with a clear error.
func TestWalkRefusesNonIncreasingOIDs(t *testing.T) {
	set := endlessProfiles(t)
	tests := []struct{ mode, want string }{
		{"loop", "OID not increasing"},
	}
	for _, tc := range tests {
		t.Run(tc.mode, func(t *testing.T) {
			agent := startEndlessAgent(t, tc.mode)
			k, err := NewCollector("loopy", Options{SNMP: Agent{Address: agent.addr()}, Profiles: []string{"endless"}}, set, nil)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			start := time.Now()
			_, err = k.Poll(ctx, func(model.Sample) {})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %v to give up", d)
			}
			if n := agent.requests.Load(); n > 20 {
				t.Errorf("%d requests to a looping agent", n)
			}
		})
	}
}
