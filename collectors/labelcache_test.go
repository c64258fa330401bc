package collectors

import (
	"slices"
	"testing"

	"github.com/vedetta-dc/vedetta/model"
)

// The cache gives what Label gives, whatever the collector does with its
// slices between polls: the same slice again (a hit, no allocation), a
// slice rewritten in place, a shorter or longer view of it, one that now
// names a target label, or a new slice.
func TestLabelCacheIsLabel(t *testing.T) {
	tl := TargetLabels(model.L("class", "switch", "target", "sw1"))
	row := model.L("ifname", "Gi1/0/1", "ifindex", "1")
	var c labelCache
	check := func(step string, ls model.Labels) {
		t.Helper()
		if got, want := c.label(tl, ls), tl.Label(ls); !slices.Equal(got, want) {
			t.Errorf("%s: got %v, want %v", step, got, want)
		}
	}
	check("first poll", row)
	c.rotate()
	check("same slice", row)
	if n := testing.AllocsPerRun(100, func() { c.label(tl, row) }); n != 0 {
		t.Errorf("a hit allocates %v times, want 0", n)
	}
	row[0].Value = "99" // rewritten in place: ifindex=99
	check("rewritten in place", row)
	check("shorter view", row[:1])
	row[1] = model.Label{Name: "target", Value: "other"} // clashes: exported_target
	check("now a target label", row)
	row[1] = model.Label{Name: "target", Value: "sw1"} // the target's own value: dropped
	check("the target's own value", row)
	check("a new slice", model.L("ifname", "Gi1/0/2", "ifindex", "2"))
	check("no labels", nil)
	c.rotate()
	c.rotate()
	if len(c.m) != 0 {
		t.Errorf("after polls that reported nothing, %d sets still cached", len(c.m))
	}
}

// FuzzLabelCache: any sequence of label sets, reused slices included, is
// labelled exactly as Label labels it.
func FuzzLabelCache(f *testing.F) {
	f.Add([]byte("a1b2"), []byte("a1c3"), uint8(2))
	f.Add([]byte("target"), []byte("tclass"), uint8(1))
	f.Fuzz(func(t *testing.T, x, y []byte, reuse uint8) {
		tl := TargetLabels(model.L("class", "ups", "target", "u1"))
		mk := func(b []byte) model.Labels {
			var ls model.Labels
			for i := 0; i+1 < len(b) && len(ls) < 6; i += 2 {
				name := string(b[i : i+1])
				if b[i]%5 == 0 {
					name = "target"
				}
				ls = ls.With(name, string(b[i+1:i+2]))
			}
			return ls
		}
		var c labelCache
		buf := mk(x)
		for round := 0; round < 4; round++ {
			ls := buf
			if int(reuse)%(round+1) == 0 {
				ls = mk(y)
				copy(buf, ls) // the old slice rewritten in place
				ls = buf[:min(len(buf), len(ls))]
			}
			if got, want := c.label(tl, ls), tl.Label(ls); !slices.Equal(got, want) {
				t.Fatalf("round %d: %v labelled %v, want %v", round, ls, got, want)
			}
			c.rotate()
		}
	})
}
