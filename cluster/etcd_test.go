package cluster

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/internal/store"
)

func TestStartSingle(t *testing.T) {
	c := configs(t, 1)[0]
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	e, err := Start(ctx, c, log)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(logs.String(), "cluster peer traffic is NOT encrypted"); n != 1 {
		t.Fatalf("plain-text warning logged %d times:\n%s", n, logs.String())
	}
	st, err := e.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Leader != "n1" || !st.Quorum || len(st.Members) != 1 || !st.Members[0].Healthy || st.Members[0].Name != "n1" {
		t.Fatalf("status %+v", st)
	}
	if !e.IsRaftLeader() {
		t.Fatal("the only member does not lead")
	}
	if err := e.MoveLeaderAway(ctx); err != nil {
		t.Fatalf("MoveLeaderAway in a cluster of one: %v", err)
	}
	s := NewStore(e.Client, 2*time.Second)
	seed(t, s, store.Alarms, map[string]string{"a": "kept"})
	size, err := e.DBSize(ctx)
	if err != nil || size <= 0 {
		t.Fatalf("DBSize %d %v", size, err)
	}
	if err := e.Defragment(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	// A restart finds its data dir and its data.
	e, err = Start(ctx, c, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if got := dump(t, NewStore(e.Client, 2*time.Second), store.Alarms)["a"]; got != "kept" {
		t.Fatalf("after restart: %q", got)
	}

	t.Run("external", func(t *testing.T) {
		x, err := Start(ctx, &Config{Node: "x", Etcd: &External{Endpoints: []string{"http://" + c.ListenClient}}}, quietLog())
		if err != nil {
			t.Fatal(err)
		}
		defer x.Close()
		if got := dump(t, NewStore(x.Client, 2*time.Second), store.Alarms)["a"]; got != "kept" {
			t.Fatalf("through the external client: %q", got)
		}
		st, err := x.Status(ctx)
		if err != nil || st.Leader != "n1" || !st.Quorum || len(st.Members) != 1 || !st.Members[0].Healthy {
			t.Fatalf("status %+v %v", st, err)
		}
		if x.IsRaftLeader() || x.MoveLeaderAway(ctx) != nil {
			t.Fatal("an external etcd's leadership is not ours to steer")
		}
		if size, err := x.DBSize(ctx); err != nil || size <= 0 {
			t.Fatalf("DBSize %d %v", size, err)
		}
	})
	t.Run("external, nobody there", func(t *testing.T) {
		short, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		_, err := Start(short, &Config{Node: "x", Etcd: &External{Endpoints: []string{"http://" + freeAddr(t)}}}, quietLog())
		if err == nil {
			t.Fatal("connected to nothing")
		}
	})
}

func TestStartFailsClearly(t *testing.T) {
	c := configs(t, 1)[0]
	l, err := net.Listen("tcp", c.ListenPeer)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if e, err := Start(ctx, c, quietLog()); err == nil {
		e.Close()
		t.Fatal("started on a port in use")
	} else if !strings.Contains(err.Error(), "n1") {
		t.Fatalf("error does not name the member: %v", err)
	}

	// A member of three alone finds no quorum, and says so when ctx ends.
	c = configs(t, 3)[0]
	ctx, cancel = context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	if e, err := Start(ctx, c, quietLog()); err == nil {
		e.Close()
		t.Fatal("started without quorum")
	} else if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "quorum") {
		t.Fatalf("err %v", err)
	}
}

func TestStartTLS(t *testing.T) {
	c := configs(t, 1)[0]
	c.TLS = writeCerts(t)
	c.Peers[0].URL = "https://" + c.ListenPeer
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	e, err := Start(ctx, c, log)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if strings.Contains(logs.String(), "NOT encrypted") {
		t.Fatal("plain-text warning with TLS on")
	}
	s := NewStore(e.Client, 2*time.Second)
	seed(t, s, "b", map[string]string{"k": "v"})
	if got := dump(t, s, "b")["k"]; got != "v" {
		t.Fatalf("read back %q", got)
	}
	st, err := e.Status(ctx)
	if err != nil || !st.Quorum || !st.Members[0].Healthy {
		t.Fatalf("status %+v %v", st, err)
	}
	if !strings.HasPrefix(st.Members[0].PeerURL, "https://") {
		t.Fatalf("peer URL %s", st.Members[0].PeerURL)
	}
}

// writeCerts makes a CA and one certificate for loopback, good for both
// ends of every connection (as the peers need).
func writeCerts(t *testing.T) *TLS {
	t.Helper()
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "vedetta test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "n1"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:     []string{"localhost"},
	}
	caCert, _ := x509.ParseCertificate(caDER)
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	write := func(name, typ string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return &TLS{
		CAFile:   write("ca.pem", "CERTIFICATE", caDER),
		CertFile: write("cert.pem", "CERTIFICATE", der),
		KeyFile:  write("key.pem", "EC PRIVATE KEY", keyDER),
	}
}

// memberView keeps the latest list a WatchMembers reported.
type memberView struct {
	mu   sync.Mutex
	list []Member
}

func (v *memberView) set(l []Member) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.list = l
}

func (v *memberView) names() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	var n []string
	for _, m := range v.list {
		n = append(n, m.Node)
	}
	return strings.Join(n, ",")
}

func (v *memberView) get() []Member {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.list
}

func eventually(t *testing.T, within time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestThreeNodes: raft leadership moved away, the raft leader and
// dispatcher's node killed, a survivor elected, writes and ownership
// following, then quorum lost and errors coming back in time.
func TestThreeNodes(t *testing.T) {
	nodes := startCluster(t, configs(t, 3))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	const ttl = 2 * time.Second

	byName := map[string]*Etcd{}
	for i, n := range nodes {
		byName[fmt.Sprintf("n%d", i+1)] = n
	}
	raftLeader := func() (string, *Etcd) {
		for name, n := range byName {
			if n.IsRaftLeader() {
				return name, n
			}
		}
		return "", nil
	}

	views := map[string]*memberView{}
	var watchers sync.WaitGroup
	wctx, stopWatch := context.WithCancel(ctx)
	defer func() { stopWatch(); watchers.Wait() }()
	for name, n := range byName {
		if _, err := Join(ctx, n.Client, Member{Node: name, Zone: "z" + name[1:]}, ttl); err != nil {
			t.Fatal(err)
		}
		v := &memberView{}
		views[name] = v
		watchers.Go(func() { _ = WatchMembers(wctx, n.Client, v.set) })
	}
	for name, v := range views {
		eventually(t, 5*time.Second, name+" sees three members", func() bool { return v.names() == "n1,n2,n3" })
	}

	var leaderName string
	eventually(t, 5*time.Second, "a raft leader", func() bool { leaderName, _ = raftLeader(); return leaderName != "" })
	for name, n := range byName {
		st, err := n.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		healthy := 0
		for _, m := range st.Members {
			if m.Healthy {
				healthy++
			}
		}
		if st.Leader != leaderName || !st.Quorum || healthy != 3 {
			t.Fatalf("%s: status %+v, raft leader %s", name, st, leaderName)
		}
	}

	t.Run("MoveLeaderAway", func(t *testing.T) {
		if err := byName[leaderName].MoveLeaderAway(ctx); err != nil {
			t.Fatal(err)
		}
		if byName[leaderName].IsRaftLeader() {
			t.Fatal("still raft leader")
		}
		eventually(t, 3*time.Second, "another raft leader", func() bool {
			n, _ := raftLeader()
			return n != "" && n != leaderName
		})
	})

	// The dispatcher sits on the raft leader's node: killing it loses both.
	deadName, dead := raftLeader()
	if dead == nil {
		t.Fatal("no raft leader")
	}
	if _, err := Campaign(ctx, dead.Client, deadName, ttl); err != nil {
		t.Fatal(err)
	}
	var survivors []string
	for name := range byName {
		if name != deadName {
			survivors = append(survivors, name)
		}
	}
	type won struct {
		l   *Leadership
		err error
	}
	elected := make(chan won, 2)
	cctx, stopCampaigns := context.WithCancel(ctx)
	var campaigns sync.WaitGroup
	defer func() { stopCampaigns(); campaigns.Wait() }()
	for _, name := range survivors {
		campaigns.Go(func() {
			l, err := Campaign(cctx, byName[name].Client, name, ttl)
			elected <- won{l, err}
		})
	}
	time.Sleep(200 * time.Millisecond) // the candidates are queued

	ts := targets(600)
	before := map[string]string{}
	for _, tg := range ts {
		before[tg] = Owner(tg, "", views[survivors[0]].get())
	}

	killed := time.Now()
	if err := dead.Close(); err != nil {
		t.Fatalf("close %s: %v", deadName, err)
	}
	closeTook := time.Since(killed)
	var leader *Leadership
	select {
	case w := <-elected:
		if w.err != nil {
			t.Fatal(w.err)
		}
		leader = w.l
	case <-time.After(15 * time.Second):
		t.Fatal("no survivor elected within 15s of the dispatcher's node dying")
	}
	failover := time.Since(killed)
	t.Logf("killed %s (raft leader and dispatcher; Close took %s): %s elected dispatcher after %s (lease TTL %s)",
		deadName, closeTook.Round(time.Millisecond), leader.Node, failover.Round(time.Millisecond), ttl)
	if failover > 3*ttl+2*time.Second {
		t.Errorf("failover took %s", failover)
	}
	var other string
	for _, name := range survivors {
		if name != leader.Node {
			other = name
		}
	}
	if got, err := Leader(ctx, byName[other].Client); err != nil || got != leader.Node {
		t.Fatalf("Leader on %s: %q %v", other, got, err)
	}

	t.Run("writes keep working on the survivors", func(t *testing.T) {
		fs := NewStore(byName[leader.Node].Client, 2*time.Second).Fenced(leader.Fence)
		if err := fs.Update(func(tx store.Tx) error { return tx.Put(store.Outbox, "after", []byte("failover")) }); err != nil {
			t.Fatal(err)
		}
		if got := dump(t, NewStore(byName[other].Client, 2*time.Second), store.Outbox)["after"]; got != "failover" {
			t.Fatalf("read on %s: %q", other, got)
		}
	})

	t.Run("the dead member's targets move, and only they", func(t *testing.T) {
		want := strings.Join(survivors, ",")
		if survivors[0] > survivors[1] {
			want = survivors[1] + "," + survivors[0]
		}
		for _, name := range survivors {
			eventually(t, 3*ttl, name+" sees the dead member gone", func() bool { return views[name].names() == want })
		}
		moved := 0
		for _, tg := range ts {
			after := Owner(tg, "", views[survivors[0]].get())
			if after == deadName {
				t.Fatalf("%s still owned by the dead %s", tg, deadName)
			}
			if before[tg] == deadName {
				moved++
			} else if after != before[tg] {
				t.Fatalf("%s moved from %s to %s", tg, before[tg], after)
			}
		}
		if moved == 0 {
			t.Fatal("the dead member owned nothing")
		}
	})

	t.Run("no quorum: errors in time, not hangs", func(t *testing.T) {
		lone := byName[leader.Node]
		if err := byName[other].Close(); err != nil {
			t.Fatal(err)
		}
		const opTimeout = 1500 * time.Millisecond
		s := NewStore(lone.Client, opTimeout)
		slack := opTimeout + 1500*time.Millisecond
		for _, op := range []struct {
			name string
			run  func() error
		}{
			{"Update", func() error {
				return s.Update(func(tx store.Tx) error {
					tx.OnCommit(func() { t.Error("OnCommit ran without quorum") })
					_ = tx.Get(store.Alarms, "x")
					return tx.Put(store.Alarms, "x", []byte("1"))
				})
			}},
			{"blind Update", func() error {
				return s.Update(func(tx store.Tx) error { return tx.Put(store.Alarms, "y", []byte("1")) })
			}},
			{"View", func() error {
				return s.View(func(tx store.Tx) error { return tx.ForEach(store.Alarms, func(string, []byte) error { return nil }) })
			}},
			{"fenced Check", func() error { return s.Fenced(leader.Fence).Check(ctx) }},
		} {
			start := time.Now()
			err := op.run()
			took := time.Since(start)
			if err == nil || errors.Is(err, ErrFenced) {
				t.Errorf("%s without quorum: %v", op.name, err)
			}
			if took > slack {
				t.Errorf("%s took %s (opTimeout %s)", op.name, took, opTimeout)
			}
			t.Logf("%s without quorum: %s: %v", op.name, took.Round(time.Millisecond), err)
		}
		start := time.Now()
		st, err := lone.Status(ctx)
		if err != nil || st.Quorum {
			t.Fatalf("status %+v %v", st, err)
		}
		if took := time.Since(start); took > 3*time.Second {
			t.Errorf("Status took %s", took)
		}
		select {
		case <-leader.Done():
		case <-time.After(3 * ttl):
			t.Error("leadership not lost without quorum")
		}
	})
}
