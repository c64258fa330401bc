package raid

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vedetta-dc/vedetta/collectors"
	"github.com/vedetta-dc/vedetta/collectors/collectortest"
	"github.com/vedetta-dc/vedetta/model"
)

func collectFile(t *testing.T, path string) ([]model.Sample, error) {
	t.Helper()
	c, err := New(collectors.Spec{Name: "md", BaseDir: "."}, collectortest.DecodeYAML("raid: {mdstat: "+path+"}"))
	if err != nil {
		t.Fatal(err)
	}
	return collectortest.Collect(c, 0)
}

// TestFixtures compares each testdata/*.mdstat (in the byte-exact form the
// kernel's md_seq_show prints) with its golden samples, and checks the
// facts the alarms depend on.
func TestFixtures(t *testing.T) {
	type want struct {
		array, metric string
		labels        []string
		v             float64
	}
	cases := map[string][]want{
		"healthy": {
			{"md0", "raid_degraded", nil, 0}, {"md1", "raid_degraded", nil, 0}, {"md2", "raid_degraded", nil, 0},
			{"md2", "raid_disks", []string{"state", "active"}, 2}, {"md1", "raid_failed", nil, 0},
		},
		"degraded": {
			{"md0", "raid_degraded", nil, 1}, {"md0", "raid_failed", nil, 0},
			{"md0", "raid_disks", []string{"state", "failed"}, 1}, {"md1", "raid_degraded", nil, 1},
			{"md1", "raid_disks", []string{"state", "missing"}, 1}, {"md1", "raid_sync_in_progress", nil, 0},
		},
		"rebuilding": {
			{"md0", "raid_degraded", nil, 1}, {"md0", "raid_sync_progress_ratio", []string{"action", "recovery"}, 0.286},
			{"md0", "raid_sync_remaining_seconds", []string{"action", "recovery"}, 6},
			{"md1", "raid_sync_progress_ratio", []string{"action", "resync"}, 0.004},
			{"md1", "raid_sync_speed_bytes_per_second", []string{"action", "resync"}, 134312 * 1024},
			{"md2", "raid_sync_progress_ratio", []string{"action", "check"}, 0.123}, {"md2", "raid_degraded", nil, 0},
			{"md3", "raid_sync_pending", nil, 1}, {"md3", "raid_sync_in_progress", nil, 0},
		},
		"failed": {
			{"md1", "raid_failed", nil, 1}, {"md1", "raid_disks", []string{"state", "failed"}, 2},
			{"md2", "raid_active", nil, 0}, {"md2", "raid_failed", nil, 1}, {"md2", "raid_disks", []string{"state", "spare"}, 2},
			{"md0", "raid_degraded", nil, 1}, {"md0", "raid_failed", nil, 0}, {"md0", "raid_disks", []string{"state", "spare"}, 1},
		},
		"empty": {},
	}
	for name, wants := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := collectFile(t, filepath.Join("testdata", name+".mdstat"))
			if err != nil {
				t.Fatal(err)
			}
			collectortest.Golden(t, filepath.Join("testdata", name+".golden"), collectortest.Render(got))
			for _, w := range wants {
				v, ok := collectortest.Value(got, w.metric, append([]string{"array", w.array}, w.labels...)...)
				if !ok || fmt.Sprintf("%.6g", v) != fmt.Sprintf("%.6g", w.v) {
					t.Errorf("%s{array=%s %v} = %v (present %v), want %v", w.metric, w.array, w.labels, v, ok, w.v)
				}
			}
		})
	}
}

func TestBadInput(t *testing.T) {
	healthy, err := os.ReadFile("testdata/healthy.mdstat")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, in, wantErr string
		arrays            int
	}{
		{"not mdstat", "hello world\n", "not an array header", 0},
		{"empty file", "", "not a /proc/mdstat file", 0},
		{"truncated mid-array", string(healthy[:200]), "", 2},
		{"bad member", "Personalities : [raid1] \nmd0 : active raid1 sda1[x]\n", "bad member", 0},
		{"count above total", "Personalities : \nmd0 : active raid1 sda1[0]\n      100 blocks super 1.2 [2/3] [UU]\n", "bad disk count", 1},
		{"unknown state", "Personalities : \nmd0 : broken raid1 sda1[0]\n", "unknown state", 0},
		{"orphan detail", "Personalities : \n      100 blocks\n", "outside any array", 0},
		{"future kernel detail line", "Personalities : [raid1] \nmd0 : active raid1 sda1[0] sdb1[1]\n      100 blocks super 1.2 [2/2] [UU]\n      shiny: new 42\n", "", 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			arrays, err := Parse(strings.NewReader(tc.in))
			if !collectortest.ErrMatches(err, tc.wantErr) {
				t.Errorf("err = %v, want %q", err, tc.wantErr)
			}
			if len(arrays) != tc.arrays {
				t.Errorf("%d arrays, want %d", len(arrays), tc.arrays)
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		if _, err := collectFile(t, "/nonexistent/mdstat"); err == nil {
			t.Error("no error for a missing file")
		}
	})
}

// FuzzParseMdstat: never a panic, never a ratio outside 0..1, never more
// active disks than disks.
func FuzzParseMdstat(f *testing.F) {
	for _, n := range []string{"healthy", "degraded", "rebuilding", "failed", "empty"} {
		b, err := os.ReadFile(filepath.Join("testdata", n+".mdstat"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Fuzz(func(t *testing.T, in string) {
		arrays, _ := Parse(strings.NewReader(in))
		for _, a := range arrays {
			if a.ActiveDisks > a.Disks {
				t.Fatalf("%s: %d active of %d", a.Name, a.ActiveDisks, a.Disks)
			}
			if a.Sync != nil && (a.Sync.Ratio < 0 || a.Sync.Ratio > 1) {
				t.Fatalf("%s: ratio %v", a.Name, a.Sync.Ratio)
			}
		}
		for _, s := range Samples(arrays) {
			if s.Value != s.Value || s.Value < 0 {
				t.Fatalf("bad sample %s%s %v", s.Name, s.Labels, s.Value)
			}
		}
	})
}
