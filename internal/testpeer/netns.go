package testpeer

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
)

// Net is a few hosts on one machine: each in its own network namespace,
// on one bridge whose address (in the root namespace) serves the peers
// every host must reach (Mailpit, the Twilio-speaking server). A host is
// cut off by detaching its veth from the bridge: its packets are dropped,
// no RST, as when a zone's uplinks fail. Needs root and iproute2.
type Net struct {
	t      testing.TB
	bridge string
	hosts  []string
	subnet string // "10.213.N"
}

var netSeq atomic.Int32

// StartNet creates n namespaces on a fresh bridge; everything is deleted
// when the test ends (a failed run leaves no namespace behind).
func StartNet(t testing.TB, n int) *Net {
	t.Helper()
	Need(t, "ip")
	if os.Geteuid() != 0 {
		Missing(t, "network namespaces need root (.ci/run runs as root)")
	}
	// One subnet and set of names per test in this process (and pid, for
	// parallel packages): nothing else on the machine uses 10.213.x.
	id := int(netSeq.Add(1)) + os.Getpid()%40*5
	nt := &Net{t: t, bridge: fmt.Sprintf("vbr%d", id), subnet: fmt.Sprintf("10.213.%d", id%250)}
	t.Cleanup(nt.teardown)
	nt.ip("link", "add", nt.bridge, "type", "bridge")
	nt.ip("addr", "add", nt.subnet+".1/24", "dev", nt.bridge)
	nt.ip("link", "set", nt.bridge, "up")
	for i := 0; i < n; i++ {
		ns := fmt.Sprintf("vn%d-%d", id, i)
		nt.hosts = append(nt.hosts, ns)
		nt.ip("netns", "add", ns)
		nt.ip("link", "add", nt.veth(i), "type", "veth", "peer", "name", "eth0", "netns", ns)
		nt.ip("link", "set", nt.veth(i), "master", nt.bridge, "up")
		nt.ip("-n", ns, "addr", "add", nt.Addr(i)+"/24", "dev", "eth0")
		nt.ip("-n", ns, "link", "set", "eth0", "up")
		nt.ip("-n", ns, "link", "set", "lo", "up")
	}
	return nt
}

func (n *Net) veth(i int) string { return fmt.Sprintf("vh%s", strings.TrimPrefix(n.hosts[i], "vn")) }

// Addr is host i's address; HostAddr the bridge's, in the root namespace.
func (n *Net) Addr(i int) string { return fmt.Sprintf("%s.%d", n.subnet, 11+i) }
func (n *Net) HostAddr() string  { return n.subnet + ".1" }

// Start runs a command inside host i's namespace (see Start).
func (n *Net) Start(i int, env []string, name string, args ...string) *Proc {
	n.t.Helper()
	return Start(n.t, env, "ip", append([]string{"netns", "exec", n.hosts[i], name}, args...)...)
}

// Cut detaches host i from the bridge; Heal attaches it again.
func (n *Net) Cut(i int)  { n.ip("link", "set", n.veth(i), "nomaster") }
func (n *Net) Heal(i int) { n.ip("link", "set", n.veth(i), "master", n.bridge) }

// Isolate cuts host i off from the other hosts only: it still reaches the
// bridge address (the mail relay, Twilio), as in a partition between zones
// that leaves each zone its own way out. Rejoin undoes it.
func (n *Net) Isolate(i int) {
	for j := range n.hosts {
		if j != i {
			n.ip("-n", n.hosts[i], "route", "add", "blackhole", n.Addr(j)+"/32")
		}
	}
}

func (n *Net) Rejoin(i int) {
	for j := range n.hosts {
		if j != i {
			n.ip("-n", n.hosts[i], "route", "del", "blackhole", n.Addr(j)+"/32")
		}
	}
}

func (n *Net) ip(args ...string) {
	n.t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		n.t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func (n *Net) teardown() {
	for _, h := range n.hosts {
		_ = exec.Command("ip", "netns", "del", h).Run()
	}
	_ = exec.Command("ip", "link", "del", n.bridge).Run()
}
