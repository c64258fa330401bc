package snmp

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"
)

// scriptedAgent is a UDP peer on 127.0.0.1 that answers the n-th request
// (from 0) as its script says, to drive exchange through what real
// networks do: lost datagrams, late answers to an earlier try, garbage.
type scriptedAgent struct {
	conn     *net.UDPConn
	requests atomic.Int32
}

// An answer is what the agent sends back for one request: datagrams
// built from the request's ID.
type answer func(id uint32) [][]byte

func startScripted(t *testing.T, script func(n int) answer) *scriptedAgent {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	a := &scriptedAgent{conn: c}
	done := make(chan struct{})
	go func() {
		defer close(done)
		dec := &gosnmp.GoSNMP{Version: gosnmp.Version2c, Logger: gosnmp.NewLogger(nil)}
		buf := make([]byte, 65535)
		for {
			n, from, err := c.ReadFromUDP(buf)
			if err != nil {
				return
			}
			req, err := dec.SnmpDecodePacket(buf[:n])
			if err != nil {
				continue
			}
			k := int(a.requests.Add(1)) - 1
			if ans := script(k); ans != nil {
				for _, d := range ans(req.RequestID) {
					_, _ = c.WriteToUDP(d, from)
				}
			}
		}
	}()
	t.Cleanup(func() { c.Close(); <-done })
	return a
}

// reply is an answer of one Gauge32 of value val with request ID id.
func reply(t *testing.T, id uint32, val uint, vbs ...gosnmp.SnmpPDU) []byte {
	t.Helper()
	if vbs == nil {
		vbs = []gosnmp.SnmpPDU{{Name: ".1.3.6.1.2.1.1.7.0", Type: gosnmp.Gauge32, Value: val}}
	}
	p := &gosnmp.SnmpPacket{Version: gosnmp.Version2c, Community: "public", PDUType: gosnmp.GetResponse, RequestID: id, Variables: vbs}
	b, err := p.MarshalMsg()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestExchange drives the v1/v2c request loop (the part of gosnmp that
// exchange redoes) through lost requests, stale and garbage datagrams,
// silence, the context's deadline and empty answers.
func TestExchange(t *testing.T) {
	for _, tc := range []struct {
		name     string
		script   func(t *testing.T) func(n int) answer
		retries  int
		ctxLimit time.Duration // 0: none
		want     uint          // the value read; 0: an error is wanted
		wantErr  func(error) bool
		requests int32
	}{{
		name: "garbage and a late answer to an earlier request are skipped",
		script: func(t *testing.T) func(int) answer {
			return func(int) answer {
				return func(id uint32) [][]byte {
					return [][]byte{{0x30, 0x03, 0x02, 0x01}, reply(t, id-1, 666), reply(t, id, 42)}
				}
			}
		},
		want: 42, requests: 1,
	}, {
		name: "a lost request is sent again, with a new ID",
		script: func(t *testing.T) func(int) answer {
			return func(n int) answer {
				if n == 0 {
					return nil
				}
				return func(id uint32) [][]byte { return [][]byte{reply(t, id, 7)} }
			}
		},
		retries: 1, want: 7, requests: 2,
	}, {
		name:     "silence: a timeout after every try",
		script:   func(*testing.T) func(int) answer { return func(int) answer { return nil } },
		retries:  2,
		wantErr:  func(err error) bool { return errors.Is(err, gosnmp.ErrMaxRetriesExceeded) && isTimeout(err) },
		requests: 3,
	}, {
		name:     "the context's deadline ends the exchange before the timeout",
		script:   func(*testing.T) func(int) answer { return func(int) answer { return nil } },
		retries:  3,
		ctxLimit: 300 * time.Millisecond,
		wantErr:  func(err error) bool { return errors.Is(err, context.DeadlineExceeded) },
		requests: 1,
	}, {
		name: "an empty answer is not an answer: sent again",
		script: func(t *testing.T) func(int) answer {
			return func(n int) answer {
				return func(id uint32) [][]byte {
					if n == 0 {
						p := &gosnmp.SnmpPacket{Version: gosnmp.Version2c, Community: "public", PDUType: gosnmp.GetResponse, RequestID: id}
						b, err := p.MarshalMsg()
						if err != nil {
							t.Fatal(err)
						}
						return [][]byte{b}
					}
					return [][]byte{reply(t, id, 9)}
				}
			}
		},
		retries: 1, want: 9, requests: 2,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			ag := startScripted(t, tc.script(t))
			retries := tc.retries
			a := Agent{Address: ag.conn.LocalAddr().String(), Timeout: 250 * time.Millisecond, Retries: &retries}
			if tc.ctxLimit > 0 {
				a.Timeout = 5 * time.Second
			}
			if err := a.Validate(); err != nil {
				t.Fatal(err)
			}
			c, err := dial(&a)
			if err != nil {
				t.Fatal(err)
			}
			defer c.close()
			ctx := context.Background()
			if tc.ctxLimit > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.ctxLimit)
				defer cancel()
			}
			m, err := c.exchange(ctx, gosnmp.GetRequest, []string{"1.3.6.1.2.1.1.7.0"}, 0)
			switch {
			case tc.want != 0 && err != nil:
				t.Fatalf("exchange: %v", err)
			case tc.want != 0 && (len(m.Varbinds) != 1 || m.Varbinds[0].Uint != uint64(tc.want)):
				t.Fatalf("read %+v, want the value %d", m.Varbinds, tc.want)
			case tc.want == 0 && (err == nil || !tc.wantErr(err)):
				t.Fatalf("exchange: %v, not the error wanted", err)
			}
			if got := ag.requests.Load(); got != tc.requests {
				t.Fatalf("%d requests sent, want %d", got, tc.requests)
			}
		})
	}
}
