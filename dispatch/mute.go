package dispatch

import (
	"time"
)

// Muting: silences and depends_on hold notifications back.

// muted says why notices for n are held back now, or "".
func (d *Dispatcher) muted(n *Notice, now time.Time) string {
	for _, s := range d.silenceList() {
		if s.Active(now) && s.Matches(&n.Alarm) {
			if s.Comment != "" {
				return "silenced: " + s.Comment
			}
			return "silenced"
		}
	}
	if d.TargetUp != nil {
		for _, p := range d.parents[n.Alarm.Labels["target"]] {
			if up, known := d.TargetUp(p); known && !up {
				return "depends on " + p + ", which is down"
			}
		}
	}
	return ""
}
