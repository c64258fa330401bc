package raid

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/vedetta-dc/vedetta/collectors"
	"github.com/vedetta-dc/vedetta/model"
)

// Options is the `raid:` block of a target.
type Options struct {
	// Mdstat is the file to read (default /proc/mdstat).
	Mdstat string `yaml:"mdstat"`
}

type options struct {
	RAID Options `yaml:"raid"`
}

// Collector reads Linux md arrays from /proc/mdstat.
type Collector struct{ path string }

// New validates the options; it does not read the file.
func New(spec collectors.Spec, decode collectors.Decode) (collectors.Collector, error) {
	var c options
	if err := decode(&c); err != nil {
		return nil, err
	}
	p := c.RAID.Mdstat
	if p == "" {
		p = "/proc/mdstat"
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(spec.BaseDir, p)
	}
	return &Collector{path: p}, nil
}

// Collect reads the file once and emits one set of samples per array.
func (c *Collector) Collect(ctx context.Context, emit func(model.Sample)) error {
	b, err := os.ReadFile(c.path)
	if err != nil {
		return err
	}
	arrays, perr := Parse(bytes.NewReader(b))
	for _, s := range Samples(arrays) {
		emit(s)
	}
	if perr != nil {
		return fmt.Errorf("%s: %w", c.path, perr)
	}
	return nil
}

// minActive is how many members a level needs to keep serving data; 0
// means "cannot tell from mdstat" (raid10 depends on its layout).
func minActive(level string, disks int) int {
	switch level {
	case "raid1", "multipath":
		return 1
	case "raid4", "raid5":
		return disks - 1
	case "raid6":
		return disks - 2
	case "raid0", "linear":
		return disks
	}
	return 0
}

// Samples turns parsed arrays into samples labelled {array, level}.
func Samples(arrays []Array) []model.Sample {
	var out []model.Sample
	out = append(out, model.Sample{Name: "raid_arrays", Value: float64(len(arrays))})
	for _, a := range arrays {
		ls := model.L("array", a.Name)
		if a.Level != "" {
			ls = ls.With("level", a.Level) // an inactive array has none
		}
		add := func(name string, v float64, extra ...string) {
			l := ls
			for i := 0; i+1 < len(extra); i += 2 {
				l = l.With(extra[i], extra[i+1])
			}
			out = append(out, model.Sample{Name: name, Labels: l, Value: v})
		}
		active := a.State == "active"
		add("raid_active", b2f(active))
		degraded := !active || (a.Disks > 0 && a.ActiveDisks < a.Disks) || strings.Contains(a.Status, "_")
		add("raid_degraded", b2f(degraded))
		failed := !active
		if mn := minActive(a.Level, a.Disks); active && a.Disks > 0 && mn > 0 && a.ActiveDisks < mn {
			failed = true
		}
		add("raid_failed", b2f(failed))
		var nFailed, nSpare int
		for _, d := range a.Devices {
			switch {
			case strings.Contains(d.Flags, "F"):
				nFailed++
			case strings.Contains(d.Flags, "S"):
				nSpare++
			}
		}
		nActive := a.ActiveDisks
		if a.Disks == 0 && active {
			nActive = len(a.Devices) - nFailed - nSpare // raid0/linear: no [n/m]
		}
		add("raid_disks", float64(nActive), "state", "active")
		add("raid_disks", float64(nFailed), "state", "failed")
		add("raid_disks", float64(nSpare), "state", "spare")
		add("raid_disks", float64(max(a.Disks-a.ActiveDisks, 0)), "state", "missing")
		add("raid_sync_in_progress", b2f(a.Sync != nil))
		add("raid_sync_pending", b2f(a.SyncPending != ""))
		if s := a.Sync; s != nil {
			add("raid_sync_progress_ratio", s.Ratio, "action", s.Action)
			add("raid_sync_remaining_seconds", s.FinishSecond, "action", s.Action)
			add("raid_sync_speed_bytes_per_second", s.SpeedBytes, "action", s.Action)
		}
	}
	return out
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
