package smart

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/collectors"
	"github.com/vedetta-dc/vedetta/collectors/collectortest"
	"github.com/vedetta-dc/vedetta/internal/testpeer"
	"github.com/vedetta-dc/vedetta/model"
)

// fakeSmartctl replays recorded smartctl JSON: the device name is the
// fixture's base name, the exit code is the recorded exit_status.
const fakeSmartctl = `#!/bin/sh
for a; do last=$a; done
case " $* " in *" --scan-open "*) cat "$FAKE_SMART_DIR/scan.json"; exit 0;; esac
f="$FAKE_SMART_DIR/$last.json"
cat "$f" || exit 2
code=$(sed -n 's/.*"exit_status": *\([0-9][0-9]*\).*/\1/p' "$f" | head -n 1)
exit "${code:-0}"
`

func writeFake(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "smartctl")
	if err := os.WriteFile(p, []byte(fakeSmartctl), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func newCollector(t *testing.T, src string) collectors.Collector {
	t.Helper()
	c, err := New(collectors.Spec{Name: "disks", Kind: "smart", BaseDir: t.TempDir()}, collectortest.DecodeYAML(src))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// TestFixtures reads every recorded drive in shared/testdata/smart through
// the collector and compares the samples with testdata/<fixture>.golden.
func TestFixtures(t *testing.T) {
	dir := testpeer.SharedTestdata(t, "smart")
	t.Setenv("FAKE_SMART_DIR", dir)
	fake := writeFake(t)
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(files) == 0 {
		t.Fatal("no fixtures")
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		t.Run(name, func(t *testing.T) {
			c := newCollector(t, fmt.Sprintf("smart: {smartctl: %s, devices: [%q]}", fake, name))
			got, err := collectortest.Collect(c, 20*time.Second)
			if err != nil {
				t.Fatalf("Collect: %v", err)
			}
			collectortest.Golden(t, filepath.Join("testdata", name+".golden"), collectortest.Render(got))
			for _, s := range got {
				if s.Labels.Get("model") == "" || s.Labels.Get("serial") == "" || s.Labels.Get("device") != name {
					t.Errorf("%s%s: want device, model and serial labels", s.Name, s.Labels)
				}
			}
			if v, _ := collectortest.Value(got, "disk_readable"); v != 1 {
				t.Errorf("disk_readable = %v, want 1", v)
			}
		})
	}
}

func TestScan(t *testing.T) {
	dir := t.TempDir()
	src := testpeer.SharedTestdata(t, "smart", "smartctl_exporter__INTEL_SSDPE2KX080T8_1.json")
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "nvme0.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	scan := `{"json_format_version":[1,0],"smartctl":{"version":[7,3],"exit_status":0},"devices":[{"name":"nvme0","info_name":"/dev/nvme0","type":"nvme","protocol":"NVMe"}]}`
	if err := os.WriteFile(filepath.Join(dir, "scan.json"), []byte(scan), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FAKE_SMART_DIR", dir)
	c := newCollector(t, "smart: {smartctl: "+writeFake(t)+"}")
	got, err := collectortest.Collect(c, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := collectortest.Value(got, "disk_scan_devices"); !ok || v != 1 {
		t.Errorf("disk_scan_devices = %v %v, want 1", v, ok)
	}
	if v, ok := collectortest.Value(got, "disk_available_spare_ratio", "device", "nvme0", "model", "INTEL SSDPE2KX080T8"); !ok || v != 1 {
		t.Errorf("disk_available_spare_ratio = %v %v, want 1", v, ok)
	}
}

// TestRealSmartctl runs the real smartctl on devices that exist on every
// Linux machine but have no SMART: the collector must say disk_readable 0
// with the decoded exit bits, and return an error naming the device.
func TestRealSmartctl(t *testing.T) {
	bin := testpeer.Need(t, "/usr/sbin/smartctl", "smartctl")
	cases := []struct {
		name, devices string
		device        string
		exit          float64
		flag          string
	}{
		{"unknown type", `[/dev/null]`, "/dev/null", 1, "command_line_error"},
		{"open failed", `[{name: /dev/null, type: sat}]`, "/dev/null", 2, "open_failed"},
		{"nvme ioctl fails", `[{name: /dev/zero, type: nvme}]`, "/dev/zero", 2, "open_failed"},
		{"no such device", `[/dev/vedetta-no-such-disk]`, "/dev/vedetta-no-such-disk", 1, "command_line_error"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newCollector(t, fmt.Sprintf("smart: {smartctl: %s, devices: %s}", bin, tc.devices))
			got, err := collectortest.Collect(c, 20*time.Second)
			if err == nil || !strings.Contains(err.Error(), tc.device) {
				t.Errorf("err = %v, want an error naming %s", err, tc.device)
			}
			if v, ok := collectortest.Value(got, "disk_readable", "device", tc.device); !ok || v != 0 {
				t.Errorf("disk_readable = %v %v, want 0", v, ok)
			}
			if v, _ := collectortest.Value(got, "disk_smartctl_exit_status"); v != tc.exit {
				t.Errorf("disk_smartctl_exit_status = %v, want %v", v, tc.exit)
			}
			if v, _ := collectortest.Value(got, "disk_smartctl_exit_flag", "flag", tc.flag); v != 1 {
				t.Errorf("flag %s = %v, want 1", tc.flag, v)
			}
			if _, ok := collectortest.Value(got, "disk_smart_passed"); ok {
				t.Error("disk_smart_passed emitted for an unreadable disk")
			}
		})
	}
	t.Run("scan finds nothing here", func(t *testing.T) {
		c := newCollector(t, "smart: {smartctl: "+bin+"}")
		got, err := collectortest.Collect(c, 20*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := collectortest.Value(got, "disk_scan_devices"); !ok {
			t.Error("no disk_scan_devices sample")
		}
	})
}

func TestBadOutput(t *testing.T) {
	cases := []struct {
		name     string
		out      string
		code     int
		readable float64
		wantErr  string
	}{
		{"truncated JSON", `{"smartctl":{"exit_status":0},"smart_status":{"pas`, 0, 0, "not smartctl JSON"},
		{"empty output", ``, 0, 0, "not smartctl JSON"},
		{"text from an old smartctl", "smartctl 6.6 2016-05-31\n=== START", 4, 0, "not smartctl JSON"},
		{"exit 64, error log has entries", `{"smartctl":{"exit_status":64},"model_name":"X","serial_number":"S","smart_status":{"passed":true},"new_field_from_future":[1,2]}`, 64, 1, ""},
		{"wrong types", `{"smart_status":{"passed":"yes"}}`, 0, 0, "not smartctl JSON"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse([]byte(tc.out), tc.code, "/dev/sdz")
			if !collectortest.ErrMatches(err, tc.wantErr) {
				t.Errorf("err = %v, want %q", err, tc.wantErr)
			}
			if v, ok := collectortest.Value(got, "disk_readable"); !ok || v != tc.readable {
				t.Errorf("disk_readable = %v %v, want %v", v, ok, tc.readable)
			}
			if v, _ := collectortest.Value(got, "disk_smartctl_exit_status"); v != float64(tc.code) {
				t.Errorf("exit status = %v", v)
			}
		})
	}
}

func TestOptions(t *testing.T) {
	cases := []struct{ src, wantErr string }{
		{"smart: {devices: [/dev/sda, {name: /dev/bus/0, type: 'megaraid,1'}]}", ""},
		{"smart: {devices: [{name: /dev/sda, typo: sat}]}", "unknown field"},
		{"smart: {devices: [{type: sat}]}", "empty name"},
		{"smart: {smartctl: /usr/sbin/smartctl, wrapper: [sudo, -n]}", ""},
	}
	for _, tc := range cases {
		_, err := New(collectors.Spec{Name: "x"}, collectortest.DecodeYAML(tc.src))
		if !collectortest.ErrMatches(err, tc.wantErr) {
			t.Errorf("%s: err = %v, want %q", tc.src, err, tc.wantErr)
		}
	}
}

func TestContextCancelled(t *testing.T) {
	p := filepath.Join(t.TempDir(), "slow")
	if err := os.WriteFile(p, []byte("#!/bin/sh\nexec sleep 30\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	c := newCollector(t, "smart: {smartctl: "+p+", devices: [/dev/sda]}")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := c.Collect(ctx, func(model.Sample) {})
	if err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("err = %v after %v, want a prompt deadline error", err, time.Since(start))
	}
}
