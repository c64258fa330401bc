package testpeer

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// Blackhole is a TCP server on 127.0.0.1 that accepts and then says
// nothing (no greeting, no TLS handshake): the relay that hangs. It reads
// and drops what the client writes, so it sees when the client hangs up.
type Blackhole struct {
	Port     int
	Accepted atomic.Int32
	HungUp   atomic.Int32
}

// StartBlackhole starts a blackhole, closed when the test ends.
func StartBlackhole(t testing.TB) *Blackhole { return StartListener(t, nil) }

// StartListener is StartBlackhole whose connections first go to serve
// (a server that answers a little, then stalls), when given.
func StartListener(t testing.TB, serve func(net.Conn)) *Blackhole {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &Blackhole{Port: ln.Addr().(*net.TCPAddr).Port}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.Accepted.Add(1)
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() {
				if serve != nil {
					serve(c)
				}
				_, _ = io.Copy(io.Discard, c) // until the client hangs up
				b.HungUp.Add(1)
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return b
}
