package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/internal/testpeer"
)

// cluster.etcd.endpoints (issue 10): two vedetta members on an etcd the
// operator already runs — a real etcd server process (Debian's
// etcd-server, 3.4), not the embedded one, reached by vedetta's v3.7
// client. An alarm reaches Mailpit, an ack made on the member that is not
// the dispatcher is the dispatcher's, and when the dispatcher is killed
// (kill -9) the other member takes the office and sends.
func TestE2EClusterExternalEtcd(t *testing.T) {
	needClusterRig(t)
	etcd := testpeer.StartEtcd(t)
	t.Logf("external etcd: %s", etcd.Version(t))
	mp := testpeer.StartMailpit(t)
	dir := t.TempDir()
	const racks = 4
	rack := func(i int) string { return filepath.Join(dir, fmt.Sprintf("rack%02d.prom", i)) }
	set := func(i int, hot bool) {
		v := 20
		if hot {
			v = 45
		}
		writeFile(t, rack(i), fmt.Sprintf("rack_temperature_celsius %d\n", v))
	}
	var targets strings.Builder
	for i := 0; i < racks; i++ {
		set(i, false)
		fmt.Fprintf(&targets, "  - {name: rack%02d, kind: exec, interval: 1s, exec: {command: [cat, %s], format: prometheus}}\n", i, rack(i))
	}
	var nodes [2]*daemonProc
	var cfgs [2]string
	var ports [2]int
	for i := range nodes {
		ports[i] = testpeer.FreePort(t)
		cfgs[i] = filepath.Join(dir, fmt.Sprintf("n%d.yaml", i))
		writeFile(t, cfgs[i], fmt.Sprintf(`site: e2e
state_dir: %[1]s/n%[2]d
http:
  listen: 127.0.0.1:%[3]d
  token: e2e-token
cluster:
  node: n%[2]d
  zone: z%[2]d
  lease_ttl: 2s
  quorum_timeout: 30s
  etcd:
    endpoints: [%[4]s]
targets:
%[5]s
rules:
  - name: RackTooHot
    expr: rack_temperature_celsius > 35
    severity: critical
    summary: "{{ .Labels.target }} at {{ .Value }} °C"
notify:
  email:
    from: vedetta@e2e.example
    timeout: 3s
    relays:
      - {host: 127.0.0.1, port: %[6]d, tls: none}
receivers:
  - name: noc
    email: [noc@e2e.example]
routes:
  - receivers: [noc]
`, dir, i, ports[i], etcd.Endpoint, targets.String(), mp.SMTPPort))
		nodes[i] = startDaemon(t, cfgs[i], ports[i])
	}
	view := func(i int) (clusterView, bool) {
		var v clusterView
		resp, err := (&http.Client{Timeout: 2 * time.Second}).Get(nodes[i].http + "/api/v1/cluster")
		if err != nil {
			return v, false
		}
		defer resp.Body.Close()
		return v, resp.StatusCode == 200 && json.NewDecoder(resp.Body).Decode(&v) == nil
	}
	// dispatcher waits until the live members agree on one of them.
	dispatcher := func(live ...int) int {
		t.Helper()
		found := -1
		testpeer.WaitFor(t, 20*time.Second, "one dispatcher among the live members", func() bool {
			name := ""
			for _, i := range live {
				v, ok := view(i)
				if !ok || v.Dispatcher == "" || (name != "" && v.Dispatcher != name) || len(v.Members) != len(live) {
					return false
				}
				name = v.Dispatcher
			}
			found = -1
			fmt.Sscanf(name, "n%d", &found)
			for _, i := range live {
				if i == found {
					return true
				}
			}
			return false
		})
		return found
	}
	lead := dispatcher(0, 1)
	other := 1 - lead
	t.Logf("dispatcher n%d, on the external etcd", lead)
	// The status the operator reads (vedetta cluster status) works on an
	// older server too: quorum seen through its Status and reads.
	testpeer.WaitFor(t, 10*time.Second, "quorum reported on both members", func() bool {
		for i := range nodes {
			if v, ok := view(i); !ok || !v.Quorum {
				return false
			}
		}
		return true
	})

	// An alarm goes through.
	set(0, true)
	var id string
	testpeer.WaitFor(t, 15*time.Second, "rack00 FIRING mailed and seen on the other member", func() bool {
		for _, a := range nodes[other].alerts() {
			if a.Rule == "RackTooHot" && a.State == "firing" && a.Labels["target"] == "rack00" {
				id = a.ID
			}
		}
		return id != "" && len(mp.Matching(t, "FIRING", "rack00:")) == 1
	})

	// An ack on the member that does not dispatch.
	req, _ := http.NewRequest("POST", nodes[other].http+"/api/v1/alerts/"+id+"/ack", strings.NewReader(`{"by":"alice","comment":"on it"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer e2e-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("ack on n%d: HTTP %d", other, resp.StatusCode)
	}
	testpeer.WaitFor(t, 10*time.Second, "the ACKNOWLEDGED e-mail", func() bool {
		return len(mp.Matching(t, "ACKNOWLEDGED", "rack00", "by alice: on it")) == 1
	})
	code, out := nodes[lead].get("/api/v1/alerts/" + id)
	var v struct {
		Notice struct {
			Ack *struct{ By string } `json:"ack"`
		} `json:"notification_state"`
	}
	if err := json.Unmarshal([]byte(out), &v); code != 200 || err != nil || v.Notice.Ack == nil || v.Notice.Ack.By != "alice" {
		t.Fatalf("the dispatcher n%d does not show the ack: HTTP %d %v %s", lead, code, err, out)
	}

	// kill -9 of the dispatcher: the other takes the office, and an alarm
	// raised after the kill on a rack the dead member polled is mailed by
	// it.
	// A rack the dead member polled, when it had one besides rack00: its
	// target moves too.
	moved := 1
	if dv, ok := view(lead); ok {
		for _, o := range dv.Owned {
			var n int
			if _, err := fmt.Sscanf(o, "rack%d", &n); err == nil && n != 0 {
				moved = n
				break
			}
		}
	}
	nodes[lead].kill9()
	killed := time.Now()
	set(moved, true)
	next := dispatcher(other)
	name := fmt.Sprintf("rack%02d:", moved)
	testpeer.WaitFor(t, 20*time.Second, "the FIRING mail of "+name+" from the new dispatcher", func() bool {
		return len(mp.Matching(t, "FIRING", name)) == 1
	})
	t.Logf("n%d killed; n%d dispatches; %s mailed %v after the kill", lead, next, name, time.Since(killed).Round(time.Millisecond))
	time.Sleep(2 * time.Second) // room for a late duplicate
	if n := len(mp.Matching(t, "FIRING", "rack00:")); n != 1 {
		t.Errorf("rack00: %d FIRING mails after the failover, want 1", n)
	}
	if n := len(mp.Matching(t, "ACKNOWLEDGED", "rack00")); n != 1 {
		t.Errorf("%d ACKNOWLEDGED mails, want 1", n)
	}
	// The restarted member joins as a follower; rack cools are sent once.
	nodes[lead] = startDaemon(t, cfgs[lead], ports[lead])
	dispatcher(0, 1)
	set(moved, false)
	testpeer.WaitFor(t, 20*time.Second, "the RESOLVED mail of "+name, func() bool {
		return len(mp.Matching(t, "RESOLVED", name)) == 1
	})
	// An older server (3.4) answers an RPC it lacks with Unimplemented:
	// none of those the daemon makes may be one.
	for _, i := range []int{other, lead} {
		for _, l := range strings.Split(nodes[i].proc.Output(), "\n") {
			if strings.Contains(l, "Unimplemented") || strings.Contains(l, "unknown service") {
				t.Errorf("n%d: %s", i, l)
			}
		}
	}
}
