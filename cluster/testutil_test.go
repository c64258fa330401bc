package cluster

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"
)

var seedFlag = flag.Int64("cluster.seed", 20240601, "seed of the randomized cluster tests")

// freeAddr picks a loopback port the kernel says is free. Another process
// may take it before etcd binds it; on a test machine that is rare enough.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// syncBuffer collects a node's log for the tests that read it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// configs describes an n-member cluster on loopback.
func configs(t testing.TB, n int) []*Config {
	t.Helper()
	var peers []Peer
	cs := make([]*Config, n)
	for i := range n {
		node := fmt.Sprintf("n%d", i+1)
		zone := fmt.Sprintf("z%d", i+1)
		peerAddr := freeAddr(t)
		peers = append(peers, Peer{Node: node, URL: "http://" + peerAddr, Zone: zone})
		cs[i] = &Config{
			Node:          node,
			Zone:          zone,
			DataDir:       t.TempDir(),
			ListenPeer:    peerAddr,
			ListenClient:  freeAddr(t),
			LeaseTTL:      2 * time.Second,
			QuorumTimeout: 5 * time.Second,
		}
	}
	for _, c := range cs {
		c.Peers = peers
	}
	return cs
}

// quietLog keeps etcd's chatter out of the test output.
func quietLog() *slog.Logger {
	return slog.New(slog.NewTextHandler(&syncBuffer{}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// startCluster starts every member at once (each waits for the others to
// form quorum) and closes them when the test ends.
func startCluster(t testing.TB, cs []*Config) []*Etcd {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nodes := make([]*Etcd, len(cs))
	errs := make([]error, len(cs))
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Go(func() { nodes[i], errs[i] = Start(ctx, c, quietLog()) })
	}
	wg.Wait()
	for i, n := range nodes {
		if n != nil {
			t.Cleanup(func() { _ = n.Close() })
		}
		if errs[i] != nil {
			t.Fatalf("start %s: %v", cs[i].Node, errs[i])
		}
	}
	return nodes
}

// single starts a one-member cluster.
func single(t testing.TB) *Etcd {
	t.Helper()
	return startCluster(t, configs(t, 1))[0]
}

// reportSeed prints the seed of a failed randomized test, to replay it.
func reportSeed(t *testing.T, seed int64) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("seed %d: rerun with -cluster.seed=%d", seed, seed)
		}
	})
}
