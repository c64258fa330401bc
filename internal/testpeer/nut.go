package testpeer

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// UPSD is a real NUT upsd with one dummy-ups driver per dump (RIG.md
// section 4), on a free 127.0.0.1 port.
type UPSD struct {
	Addr  string            // 127.0.0.1:port
	Etc   string            // its config dir; the dumps are copied here and can be edited
	Env   []string          // NUT_CONFPATH & co., for NUT's client tools
	Dumps map[string]string // UPS name -> dump file name in Etc
}

// StartUPSD copies each dump (UPS name -> .dev path) into a private config
// dir (dummy-ups may write next to it, and tests edit it) and starts the
// drivers and upsd. User admin/adminpass may SET; monitor/monpass may read.
func StartUPSD(t testing.TB, dumps map[string]string) *UPSD {
	t.Helper()
	upsd := Need(t, "/lib/nut/upsd", "/usr/lib/nut/upsd", "/usr/sbin/upsd")
	dummy := Need(t, "/lib/nut/dummy-ups", "/usr/lib/nut/dummy-ups")
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	r := &UPSD{Etc: filepath.Join(dir, "etc"), Dumps: map[string]string{}}
	state := filepath.Join(dir, "state")
	for _, d := range []string{r.Etc, state} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var upsConf strings.Builder
	for _, name := range sortedKeys(dumps) {
		base := filepath.Base(dumps[name])
		b, err := os.ReadFile(dumps[name])
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(r.Etc, base), b, 0o644); err != nil {
			t.Fatal(err)
		}
		r.Dumps[name] = base
		fmt.Fprintf(&upsConf, "[%s]\n  driver = dummy-ups\n  port = %s\n  desc = %q\n  pollinterval = 1\n", name, base, base)
	}
	port := FreePort(t)
	r.Addr = Addr(port)
	files := map[string]string{
		"ups.conf":    upsConf.String(),
		"upsd.conf":   fmt.Sprintf("LISTEN 127.0.0.1 %d\nMAXAGE 15\n", port),
		"upsd.users":  "[admin]\n  password = adminpass\n  actions = SET\n  instcmds = ALL\n[monitor]\n  password = monpass\n  upsmon secondary\n",
		"nut.conf":    "MODE=netserver\n",
		"upsmon.conf": "",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(r.Etc, name), []byte(body), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	r.Env = []string{"NUT_CONFPATH=" + r.Etc, "NUT_STATEPATH=" + state, "NUT_ALTPIDPATH=" + state}
	var procs []*Proc
	for _, name := range sortedKeys(dumps) {
		procs = append(procs, Start(t, r.Env, dummy, "-a", name, "-u", u.Username, "-F"))
	}
	for _, name := range sortedKeys(dumps) {
		WaitFor(t, 15*time.Second, "dummy-ups socket for "+name, func() bool {
			_, err := os.Stat(filepath.Join(state, "dummy-ups-"+name))
			return err == nil
		})
	}
	procs = append(procs, Start(t, r.Env, upsd, "-u", u.Username, "-F"))
	// SIGTERM makes upsd and each driver take ~2 s to exit, one after the
	// other; they hold nothing worth a clean shutdown, so kill them at once.
	t.Cleanup(func() {
		for _, p := range procs {
			_ = syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGKILL)
		}
	})
	return r
}

// Names lists the UPS names, sorted.
func (r *UPSD) Names() []string { return sortedKeys(r.Dumps) }

// Set changes a variable with upsrw as admin and waits for the driver
// to confirm (e.g. "ups.status=OB LB").
func (r *UPSD) Set(t testing.TB, ups, set string) {
	t.Helper()
	bin := Need(t, "upsrw", "/usr/bin/upsrw")
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-s", set, "-u", "admin", "-p", "adminpass", "-w", ups+"@"+r.Addr)
	cmd.Env = append(os.Environ(), r.Env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("upsrw -s %s: %v\n%s", set, err, out)
	}
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
