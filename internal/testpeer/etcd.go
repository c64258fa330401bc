package testpeer

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Etcd is a real etcd server (Debian's etcd-server, a separate process):
// the external etcd an operator already runs (cluster.etcd.endpoints).
type Etcd struct {
	Endpoint string // http://127.0.0.1:port, the client URL
	Proc     *Proc
}

// StartEtcd starts a one-member etcd on free loopback ports, with the
// transaction limits vedetta asks of an external etcd (--max-txn-ops,
// --max-request-bytes: a storm's changes go in one transaction).
func StartEtcd(t testing.TB) *Etcd {
	t.Helper()
	bin := Need(t, "etcd", "/usr/bin/etcd")
	client, peer := Addr(FreePort(t)), Addr(FreePort(t))
	e := &Etcd{Endpoint: "http://" + client}
	e.Proc = Start(t, nil, bin,
		"--name", "ext",
		"--data-dir", filepath.Join(t.TempDir(), "etcd"),
		"--listen-client-urls", e.Endpoint, "--advertise-client-urls", e.Endpoint,
		"--listen-peer-urls", "http://"+peer, "--initial-advertise-peer-urls", "http://"+peer,
		"--initial-cluster", "ext=http://"+peer, "--initial-cluster-state", "new",
		"--max-txn-ops", "10000", "--max-request-bytes", fmt.Sprint(8<<20),
		"--heartbeat-interval", "100", "--election-timeout", "1000")
	WaitFor(t, 30*time.Second, "etcd healthy at "+e.Endpoint, func() bool {
		if e.Proc.Exited() {
			t.Fatalf("etcd exited during start-up:\n%s", e.Proc.Output())
		}
		r, err := http.Get(e.Endpoint + "/health")
		if err != nil {
			return false
		}
		defer r.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(r.Body, 4096))
		return r.StatusCode == 200 && strings.Contains(string(b), `"health":"true"`)
	})
	return e
}

// Version is what the server reports on /version (e.g. {"etcdserver":"3.4.23",...}).
func (e *Etcd) Version(t testing.TB) string {
	t.Helper()
	r, err := http.Get(e.Endpoint + "/version")
	if err != nil {
		t.Fatalf("etcd /version: %v", err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(r.Body, 4096))
	return string(b)
}
