package collectors

import "github.com/vedetta-dc/vedetta/model"

// TargetLabels is what one target stamps on every one of its samples:
// target, class and the target's labels:, sorted. Build it once per target
// with Spec.TargetLabels; every sample of the target, polled by the
// scheduler or derived from a trap, goes through its Label.
type TargetLabels model.Labels

// TargetLabels returns the labels every sample of s carries.
func (s Spec) TargetLabels() TargetLabels {
	own := model.L("class", s.Class, "target", s.Name)
	for k, v := range s.Labels {
		own = own.With(k, v)
	}
	return TargetLabels(own)
}

// exportedPrefix renames a reported label that a target's own label
// overrides (Prometheus' honor_labels: false).
const exportedPrefix = "exported_"

// Label returns ls (the labels a collector, a device or an exposition
// reported) under the target's labels. The target's target, class and
// labels: always win, so a sample is never reported as another target and a
// route or silence on a labels: key matches every sample of the target. A
// reported label with one of those names is not dropped when its value
// differs: it is kept as exported_<name> (exported_target="other"; again
// prefixed while that name is taken too), as Prometheus does with
// honor_labels: false. One with the target's own value is dropped, since
// nothing is lost. Every occurrence is handled, whatever the order.
func (t TargetLabels) Label(ls model.Labels) model.Labels {
	own := model.Labels(t)
	clash := false
	for _, l := range ls {
		if _, ok := own.Lookup(l.Name); ok {
			clash = true
			break
		}
	}
	if !clash {
		return model.Merge(own, ls) // the usual case: one allocation
	}
	kept := make(model.Labels, 0, len(ls))
	var moved model.Labels
	for _, l := range ls {
		v, ok := own.Lookup(l.Name)
		switch {
		case !ok:
			kept = append(kept, l)
		case v != l.Value:
			moved = append(moved, l)
		}
	}
	out := model.Merge(own, kept)
	for _, l := range moved {
		name := exportedPrefix + l.Name
		for {
			if _, taken := out.Lookup(name); !taken {
				break
			}
			name = exportedPrefix + name
		}
		out = out.With(name, l.Value)
	}
	return out
}
