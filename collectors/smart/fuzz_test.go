package smart

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vedetta-dc/vedetta/internal/testpeer"
	"github.com/vedetta-dc/vedetta/model"
)

// FuzzParseSmartctl feeds Parse what a broken smartctl, a firmware bug or a
// hostile device could print. Parse must never panic, must always say
// whether the device was readable (disk_readable, once, 0 or 1, and an
// error exactly when 0), and must emit only finite values labelled with the
// device.
//
// Seeds: the recorded drives of ../shared/testdata/smart (read at seed time,
// never copied into the repo; skipped when absent) and a few hand-written
// edge cases.
func FuzzParseSmartctl(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(testpeer.RepoRoot(f), "..", "shared", "testdata", "smart", "*.json"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		var r report
		code := 0
		if json.Unmarshal(b, &r) == nil && r.Smartctl.ExitStatus != nil {
			code = *r.Smartctl.ExitStatus
		}
		f.Add(b, code, "/dev/sda")
	}
	for _, s := range []string{"", "null", "{}", "[]", "not json", `{"smartctl":{"exit_status":2,"messages":[{"string":"open failed"}]}}`,
		`{"ata_smart_attributes":{"table":[{"id":5,"raw":{"value":-1}},{"id":197,"raw":{"value":1.8e19}}]}}`,
		`{"nvme_smart_health_information_log":{"available_spare":1e308,"percentage_used":-0}}`,
		`{"scsi_error_counter_log":{"read":{"total_uncorrected_errors":3},"write":{}}}`,
		`{"scsi_error_counter_log":{"read":{"total_uncorrected_errors":1e308},"write":{"total_uncorrected_errors":1e308}}}`} {
		f.Add([]byte(s), 0, "/dev/nvme0")
	}
	f.Add([]byte(`{}`), -1, "")
	f.Add([]byte(`{}`), 255, "/dev/disk/by-id/ata-X")

	f.Fuzz(func(t *testing.T, out []byte, exitCode int, device string) {
		samples, err := Parse(out, exitCode, device)
		readable := 0
		for _, s := range samples {
			if math.IsNaN(s.Value) || math.IsInf(s.Value, 0) {
				t.Errorf("%s%s = %v, want a finite value", s.Name, s.Labels, s.Value)
			}
			if s.Labels.Get("device") != device {
				t.Errorf("%s%s: device label %q, want %q", s.Name, s.Labels, s.Labels.Get("device"), device)
			}
			checkLabels(t, s)
			switch s.Name {
			case "disk_readable":
				readable++
				if s.Value != 0 && s.Value != 1 {
					t.Errorf("disk_readable = %v", s.Value)
				}
				if (s.Value == 1) != (err == nil) {
					t.Errorf("disk_readable = %v with error %v", s.Value, err)
				}
			case "disk_smartctl_exit_status":
				if s.Value != float64(exitCode) {
					t.Errorf("disk_smartctl_exit_status = %v, want %d", s.Value, exitCode)
				}
			}
		}
		if readable != 1 {
			t.Errorf("%d disk_readable samples, want exactly 1", readable)
		}
		if err != nil && !strings.Contains(err.Error(), device) {
			t.Errorf("error %q does not name the device %q", err, device)
		}
	})
}

// checkLabels: names sorted, unique and not empty (so equal sets have equal
// keys).
func checkLabels(t *testing.T, s model.Sample) {
	t.Helper()
	for i, l := range s.Labels {
		if l.Name == "" || i > 0 && s.Labels[i-1].Name >= l.Name {
			t.Errorf("%s%s: label names not sorted, unique and set", s.Name, s.Labels)
			return
		}
	}
}
