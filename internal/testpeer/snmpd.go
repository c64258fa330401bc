package testpeer

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// StartSnmpdUPS runs net-snmp's snmpd on a free loopback UDP port as a
// UPS (RIG.md section 1): communities public (read) and private (write),
// SNMPv3 users rigv3 (SHA/AES) and rig512 (SHA-512/AES-256) with
// authpass123/privpass123, sysObjectID UPS-MIB, and settable UPS-MIB values
// (upsOutputSource.0 = 3 normal: snmpset it to 5 for on battery). It
// returns the agent's address.
func StartSnmpdUPS(t testing.TB) string {
	t.Helper()
	bin := Need(t, "/usr/sbin/snmpd", "snmpd")
	get := Need(t, "snmpget")
	Need(t, "snmpset")
	dir := t.TempDir()
	addr := Addr(FreeUDPPort(t))
	conf := fmt.Sprintf(`[snmp] persistentDir %s/persist
agentAddress udp:%s
dontLogTCPWrappersConnects yes
rocommunity public  127.0.0.1
rwcommunity private 127.0.0.1
createUser rigv3     SHA     "authpass123" AES    "privpass123"
createUser rig512    SHA-512 "authpass123" AES256 "privpass123"
rwuser rigv3  priv
rouser rig512 priv
sysName     vedetta-test-ups
sysObjectID .1.3.6.1.2.1.33
override -rw .1.3.6.1.2.1.33.1.2.1.0 integer 2
override -rw .1.3.6.1.2.1.33.1.2.3.0 integer 45
override -rw .1.3.6.1.2.1.33.1.2.4.0 integer 100
override -rw .1.3.6.1.2.1.33.1.4.1.0 integer 3
`, dir, addr)
	cf := filepath.Join(dir, "snmpd.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	// -I -smux: no SMUX listener on tcp 0.0.0.0:199.
	Start(t, nil, bin, "-f", "-Lo", "-C", "-c", cf, "-p", filepath.Join(dir, "snmpd.pid"), "-m", "", "-I", "-smux")
	WaitFor(t, 15*time.Second, "snmpd ready", func() bool {
		return exec.Command(get, "-v2c", "-c", "public", "-t", "0.2", "-r", "0", "-On", addr, ".1.3.6.1.2.1.1.2.0").Run() == nil
	})
	return addr
}
