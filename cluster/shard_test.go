package cluster

import (
	"fmt"
	"testing"
)

var three = []Member{{Node: "n1", Zone: "z1"}, {Node: "n2", Zone: "z2"}, {Node: "n3", Zone: "z3"}}

func targets(n int) []string {
	ts := make([]string, n)
	for i := range ts {
		ts[i] = fmt.Sprintf("pdu-a-%04d", i)
	}
	return ts
}

func TestOwnerStable(t *testing.T) {
	reversed := []Member{three[2], three[1], three[0]}
	for _, tg := range targets(200) {
		a := Owner(tg, "elsewhere", three)
		if b := Owner(tg, "elsewhere", three); a != b {
			t.Fatalf("%s: %s then %s", tg, a, b)
		}
		if b := Owner(tg, "elsewhere", reversed); a != b {
			t.Fatalf("%s: %s, but %s with the members in another order", tg, a, b)
		}
	}
	if got := Owner("x", "z1", nil); got != "" {
		t.Fatalf("no members: %q", got)
	}
}

func TestOwnerMinimalMovement(t *testing.T) {
	for _, gone := range three {
		var left []Member
		for _, m := range three {
			if m.Node != gone.Node {
				left = append(left, m)
			}
		}
		moved, owned := 0, 0
		for _, tg := range targets(1000) {
			before, after := Owner(tg, "", three), Owner(tg, "", left)
			if before == gone.Node {
				owned++
				if after == gone.Node {
					t.Fatalf("%s still owned by the departed %s", tg, gone.Node)
				}
				continue
			}
			if before != after {
				moved++
				t.Errorf("%s moved from %s to %s though %s left", tg, before, after, gone.Node)
			}
		}
		if moved > 0 || owned == 0 {
			t.Fatalf("%s left: %d targets of others moved, it owned %d", gone.Node, moved, owned)
		}
	}
}

func TestOwnerBalance(t *testing.T) {
	counts := map[string]int{}
	const n = 3000
	for _, tg := range targets(n) {
		counts[Owner(tg, "", three)]++
	}
	for _, m := range three {
		share := float64(counts[m.Node]) / n
		if share < 0.25 || share > 0.42 {
			t.Errorf("%s owns %.1f%% of %d targets", m.Node, 100*share, n)
		}
	}
	t.Logf("shares: %v", counts)
}

func TestOwnerZone(t *testing.T) {
	two := []Member{{Node: "a1", Zone: "a"}, {Node: "a2", Zone: "a"}, {Node: "b1", Zone: "b"}}
	for _, tc := range []struct {
		name    string
		zone    string
		members []Member
		want    map[string]bool // acceptable owners
	}{
		{"in its zone", "z2", three, map[string]bool{"n2": true}},
		{"zone of two", "a", two, map[string]bool{"a1": true, "a2": true}},
		{"zone gone: anyone", "z9", three, map[string]bool{"n1": true, "n2": true, "n3": true}},
		{"zone's member gone", "z2", []Member{three[0], three[2]}, map[string]bool{"n1": true, "n3": true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seen := map[string]bool{}
			for _, tg := range targets(300) {
				got := Owner(tg, tc.zone, tc.members)
				if !tc.want[got] {
					t.Fatalf("%s in %s: owner %q, want one of %v", tg, tc.zone, got, tc.want)
				}
				seen[got] = true
			}
			if len(seen) != len(tc.want) {
				t.Fatalf("owners %v, want all of %v used", seen, tc.want)
			}
		})
	}
}
