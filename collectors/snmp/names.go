package snmp

import (
	"slices"
	"sort"
)

// fixedMetricNames are what an SNMP target emits besides its profiles'
// metrics: which profiles matched, walks cut short, and the traps its
// device sent (counted under the sender's target).
var fixedMetricNames = []string{"snmp_profile_matched", "vedetta_snmp_walk_truncated_total", trapMetric}

// MetricNames lists every metric a profile of the set can emit, plus the
// fixed ones, sorted: what `vedetta check` knows an SNMP target may give a
// rule. The names come from the profiles themselves (embedded and the
// config's profile_dirs), so a new profile needs no list kept by hand.
func (s *ProfileSet) MetricNames() []string {
	seen := map[string]bool{}
	out := slices.Clone(fixedMetricNames)
	for _, n := range out {
		seen[n] = true
	}
	for _, p := range s.list {
		for _, m := range p.Metrics {
			if !seen[m.Name] {
				seen[m.Name] = true
				out = append(out, m.Name)
			}
		}
	}
	sort.Strings(out)
	return out
}

// MetricNames lists what the targets of this kind can emit: the names of
// its profile set.
func (k *Kind) MetricNames() []string { return k.profiles.MetricNames() }

// trapMetric counts the traps received from a target's device.
const trapMetric = "snmp_trap_received_total"
