package files

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
	"github.com/vedetta-dc/vedetta/model"
	"github.com/vedetta-dc/vedetta/rules/rulestest"
)

var now = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

// backups creates n daily files, the newest newestAge old, 1 KiB each.
func backups(t *testing.T, dir string, n int, newestAge time.Duration) {
	t.Helper()
	for i := range n {
		p := filepath.Join(dir, fmt.Sprintf("db-%02d.tar.zst", i))
		if err := os.WriteFile(p, make([]byte, 1024), 0o644); err != nil {
			t.Fatal(err)
		}
		mt := now.Add(-newestAge - time.Duration(i)*24*time.Hour)
		if err := os.Chtimes(p, mt, mt); err != nil {
			t.Fatal(err)
		}
	}
}

func collect(t *testing.T, baseDir, glob string) (map[string]float64, error) {
	t.Helper()
	c, err := New(collectors.Spec{Name: "backups", BaseDir: baseDir}, collectortest.DecodeYAML(fmt.Sprintf("files: {glob: %q}", glob)))
	if err != nil {
		t.Fatal(err)
	}
	c.(*Collector).now = func() time.Time { return now }
	got := map[string]float64{}
	err = c.Collect(context.Background(), func(s model.Sample) { got[s.Name] = s.Value })
	return got, err
}

func TestCollect(t *testing.T) {
	cases := []struct {
		name    string
		setup   func(t *testing.T, dir string)
		glob    string
		want    map[string]float64
		wantErr bool
	}{
		{"a week of daily backups", func(t *testing.T, dir string) { backups(t, dir, 7, 3*time.Hour) }, "*.tar.zst",
			map[string]float64{"files_count": 7, "files_bytes": 7168, "files_newest_age_seconds": 3 * 3600,
				"files_oldest_age_seconds": 3*3600 + 6*86400, "files_newest_bytes": 1024}, false},
		{"directories and other names do not count", func(t *testing.T, dir string) {
			backups(t, dir, 2, time.Hour)
			_ = os.Mkdir(filepath.Join(dir, "old.tar.zst"), 0o755)
			_ = os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("x"), 0o644)
		}, "*.tar.zst", map[string]float64{"files_count": 2, "files_bytes": 2048, "files_newest_age_seconds": 3600}, false},
		{"empty directory: count 0, no age", func(t *testing.T, dir string) {}, "*.tar.zst",
			map[string]float64{"files_count": 0, "files_bytes": 0}, false},
		{"missing directory is an error", func(t *testing.T, dir string) {}, "nosuchdir/*.tar.zst",
			map[string]float64{"files_count": 0, "files_bytes": 0}, true},
		{"file from the future is age 0", func(t *testing.T, dir string) { backups(t, dir, 1, -time.Hour) }, "*.tar.zst",
			map[string]float64{"files_count": 1, "files_newest_age_seconds": 0}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tc.setup(t, dir)
			got, err := collect(t, dir, tc.glob)
			if (err != nil) != tc.wantErr {
				t.Errorf("err = %v, want error %v", err, tc.wantErr)
			}
			for k, v := range tc.want {
				if g, ok := got[k]; !ok || g != v {
					t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
				}
			}
			if tc.want["files_count"] == 0 {
				if _, ok := got["files_newest_age_seconds"]; ok {
					t.Error("an age was emitted for no file at all")
				}
			}
		})
	}
}

func TestOptions(t *testing.T) {
	for _, tc := range []struct{ src, wantErr string }{
		{"files: {glob: '/backup/*.tar'}", ""},
		{"files: {}", "required"},
		{"files: {glob: '/backup/[a-'}", "syntax error"},
		{"files: {globb: x}", "not found"},
	} {
		_, err := New(collectors.Spec{Name: "x", BaseDir: "/"}, collectortest.DecodeYAML(tc.src))
		if !collectortest.ErrMatches(err, tc.wantErr) {
			t.Errorf("%s: err = %v, want %q", tc.src, err, tc.wantErr)
		}
	}
}

// TestShippedRules: with configs/rules.d/files.yaml a stale backup
// directory raises BackupStale, a fresh backup clears it, and a directory
// short of a week's backups raises BackupsMissing.
func TestShippedRules(t *testing.T) {
	f := rulestest.NewFeed(rulestest.Shipped(t, "files.yaml"), "backups", "files", time.Minute)
	f.Clock = now
	dir := t.TempDir()
	round := func() []string {
		c, err := New(collectors.Spec{Name: "backups", BaseDir: dir}, collectortest.DecodeYAML(`files: {glob: "*.tar.zst"}`))
		if err != nil {
			t.Fatal(err)
		}
		c.(*Collector).now = func() time.Time { return f.Clock }
		samples, _ := collectortest.Collect(c, 0)
		f.Round(samples)
		return rulestest.Summaries(f.Engine)
	}
	// The last backup ran 30 h ago: stale.
	backups(t, dir, 7, 30*time.Hour)
	round()
	got := round()
	if len(got) != 1 || !strings.HasPrefix(got[0], "BackupStale: newest backup of backups is 1 d 6 h old") {
		t.Fatalf("stale directory: firing %q, want BackupStale only", got)
	}
	// Tonight's backup arrives: the alarm clears.
	p := filepath.Join(dir, "db-new.tar.zst")
	if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	_ = os.Chtimes(p, f.Clock, f.Clock)
	round()
	if got := round(); len(got) != 0 {
		t.Fatalf("fresh backup: still firing %q", got)
	}
	for _, a := range f.Engine.Alarms() {
		if a.Rule == "BackupStale" && a.State != model.StateResolved {
			t.Errorf("BackupStale is %s, want resolved", a.State)
		}
	}
	// Only 3 backups left: BackupsMissing.
	for i := 3; i < 7; i++ {
		_ = os.Remove(filepath.Join(dir, fmt.Sprintf("db-%02d.tar.zst", i)))
	}
	round()
	if got := round(); len(got) != 1 || !strings.HasPrefix(got[0], "BackupsMissing: backups keeps 4 backups") {
		t.Fatalf("short directory: firing %q, want BackupsMissing", got)
	}
}
