package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/collectors/snmp"
	"github.com/vedetta-dc/vedetta/internal/testpeer"
)

// trapsDaemon runs vedetta with a trap listener and one SNMP target whose
// address is 127.0.0.1 (so snmptrap's traps are that target's). It
// returns the daemon and the trap address.
func trapsDaemon(t *testing.T) (*daemonProc, string) {
	t.Helper()
	dir := t.TempDir()
	port := testpeer.FreePort(t)
	trapAddr := testpeer.Addr(testpeer.FreeUDPPort(t))
	cfg := fmt.Sprintf(`site: e2e
state_dir: %s
http:
  listen: 127.0.0.1:%d
targets:
  - name: ups1
    kind: snmp
    class: ups
    interval: 60s
    snmp: {address: "%s", community: public, timeout: 300ms, retries: 0}
    profiles: [ups-mib]
traps:
  listen: %s
  communities: [public]
`, filepath.Join(dir, "state"), port, testpeer.Addr(testpeer.FreeUDPPort(t)), trapAddr)
	path := filepath.Join(dir, "vedetta.yaml")
	writeFile(t, path, cfg)
	return startDaemon(t, path, port), trapAddr
}

var rejectedRE = regexp.MustCompile(`(?m)^vedetta_snmp_traps_rejected_total\{reason="community"\} (\S+)$`)

// A trap with a wrong community, sent by net-snmp's snmptrap, is counted in
// vedetta_snmp_traps_rejected_total{reason="community"} on the daemon's
// /metrics (it was registered on the default registry, which /metrics does
// not serve).
func TestE2ETrapWithWrongCommunityIsCountedOnMetrics(t *testing.T) {
	t.Parallel()
	snmptrap := testpeer.Need(t, "snmptrap")
	d, trapAddr := trapsDaemon(t)
	rejected := func() string {
		_, m := d.get("/metrics")
		if g := rejectedRE.FindStringSubmatch(m); g != nil {
			return g[1]
		}
		return ""
	}
	if v := rejected(); v != "0" {
		t.Errorf(`vedetta_snmp_traps_rejected_total{reason="community"} = %q before any trap, want 0`, v)
	}
	if out, err := exec.Command(snmptrap, "-v2c", "-c", "not-public", "-On", trapAddr, "", "1.3.6.1.2.1.33.2.0.1").CombinedOutput(); err != nil {
		t.Fatalf("snmptrap: %v\n%s", err, out)
	}
	testpeer.WaitFor(t, 5*time.Second, "the rejection on /metrics", func() bool { return rejected() == "1" })
}

// Traps with twice MaxTrapSeries distinct OIDs (net-snmp's snmptrap) make
// at most MaxTrapSeries snmp_trap_received_total series of the target plus
// trap="other", and /metrics stays small.
func TestE2ETrapOIDsAreCappedOnMetrics(t *testing.T) {
	t.Parallel()
	snmptrap := testpeer.Need(t, "snmptrap")
	d, trapAddr := trapsDaemon(t)
	_, m := d.get("/metrics")
	before := len(m)
	total := 2 * snmp.MaxTrapSeries
	work := make(chan int)
	var wg sync.WaitGroup
	for range 4 {
		// net-snmp's tools rewrite their persistent file at exit: one each
		env := append(os.Environ(), "SNMP_PERSISTENT_DIR="+t.TempDir())
		wg.Go(func() {
			for i := range work {
				oid := fmt.Sprintf("1.3.6.1.4.1.99999.0.%d", i)
				cmd := exec.Command(snmptrap, "-v2c", "-c", "public", "-On", trapAddr, "", oid)
				cmd.Env = env
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Errorf("snmptrap: %v\n%s", err, out)
				}
			}
		})
	}
	for i := range total {
		work <- i
	}
	close(work)
	wg.Wait()
	otherRE := regexp.MustCompile(`(?m)^snmp_trap_received_total\{[^}]*trap_oid="other"[^}]*\} (\S+)`)
	want := fmt.Sprint(total - snmp.MaxTrapSeries)
	testpeer.WaitFor(t, 10*time.Second, `trap_oid="other" to count every trap past the cap`, func() bool {
		_, m = d.get("/metrics")
		g := otherRE.FindStringSubmatch(m)
		return g != nil && g[1] == want
	})
	series := strings.Count(m, "\nsnmp_trap_received_total{")
	t.Logf("%d distinct trap OIDs: %d series, /metrics %d bytes (%d before the traps)", total, series, len(m), before)
	if series != snmp.MaxTrapSeries+1 {
		t.Errorf("%d snmp_trap_received_total series, want %d", series, snmp.MaxTrapSeries+1)
	}
}
