package host

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/collectors"
	"github.com/vedetta-dc/vedetta/model"
)

func put(t *testing.T, root, rel, content string) {
	t.Helper()
	p := filepath.Join(root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// fakeSys builds a sysfs with one hwmon chip and four NICs in the states a
// DC host sees: up, cable pulled, shut down, loopback.
func fakeSys(t *testing.T, temp string) string {
	root := t.TempDir()
	put(t, root, "class/hwmon/hwmon0/name", "coretemp")
	put(t, root, "class/hwmon/hwmon0/temp1_label", "Package id 0")
	put(t, root, "class/hwmon/hwmon0/temp1_input", temp)
	put(t, root, "class/hwmon/hwmon0/temp1_max", "80000")
	put(t, root, "class/hwmon/hwmon0/temp1_crit", "95000")
	for name, st := range map[string][2]string{
		"eth0": {"0x1003", "up"}, "eth1": {"0x1003", "down"}, "eth2": {"0x1002", "down"}, "lo": {"0x9", "unknown"},
	} {
		put(t, root, "class/net/"+name+"/flags", st[0])
		put(t, root, "class/net/"+name+"/operstate", st[1])
	}
	put(t, root, "class/net/lo/carrier", "1")
	return root
}

func collectAll(t *testing.T) map[string]float64 {
	t.Helper()
	c, err := New(collectors.Spec{Name: "h"}, func(any) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	if err := c.Collect(context.Background(), func(s model.Sample) {
		got[s.Name+s.Labels.String()] = s.Value
	}); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestHostFromFakeSysfs(t *testing.T) {
	t.Setenv("HOST_SYS", fakeSys(t, "45000"))
	got := collectAll(t)
	want := map[string]float64{
		`host_temperature_celsius{sensor="coretemp_package_id_0"}`:          45,
		`host_temperature_high_celsius{sensor="coretemp_package_id_0"}`:     80,
		`host_temperature_critical_celsius{sensor="coretemp_package_id_0"}`: 95,
		`host_network_up{device="eth0"}`:                                    1,
		`host_network_admin_up{device="eth1"}`:                              1,
		`host_network_up{device="eth1"}`:                                    0,
		`host_network_admin_up{device="eth2"}`:                              0,
		`host_network_up{device="lo"}`:                                      1,
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	// The real host parts: memory, load, a filesystem, uptime.
	for _, k := range []string{`host_memory_used_ratio{}`, `host_load1{}`, `host_cpus{}`, `host_uptime_seconds{}`} {
		if _, ok := got[k]; !ok {
			t.Errorf("missing %s", k)
		}
	}
	fs := 0
	for k, v := range got {
		if len(k) > 27 && k[:27] == "host_filesystem_used_ratio{" {
			fs++
			if v < 0 || v > 1 {
				t.Errorf("%s = %v, not a ratio", k, v)
			}
		}
	}
	if fs == 0 {
		t.Error("no filesystem measured")
	}
}

// An overheating sensor reads as such: the file changes, the sample follows.
func TestHostTemperatureChange(t *testing.T) {
	root := fakeSys(t, "45000")
	t.Setenv("HOST_SYS", root)
	put(t, root, "class/hwmon/hwmon0/temp1_input", "97000")
	if v := collectAll(t)[`host_temperature_celsius{sensor="coretemp_package_id_0"}`]; v != 97 {
		t.Fatalf("temperature %v after the change, want 97", v)
	}
}

// CPU usage needs two rounds; the first emits none rather than a guess.
func TestCPUUsageNeedsTwoRounds(t *testing.T) {
	c, _ := New(collectors.Spec{Name: "h"}, func(any) error { return nil })
	count := func() int {
		n := 0
		_ = c.Collect(context.Background(), func(s model.Sample) {
			if s.Name == "host_cpu_usage_ratio" {
				n++
				if s.Value < 0 || s.Value > 1 {
					t.Errorf("cpu usage %v", s.Value)
				}
			}
		})
		return n
	}
	if n := count(); n != 0 {
		t.Errorf("first round emitted %d cpu usage samples", n)
	}
	time.Sleep(300 * time.Millisecond) // let the CPU clock tick (10 ms jiffies)
	if n := count(); n != 1 {
		t.Errorf("second round emitted %d cpu usage samples", n)
	}
}
