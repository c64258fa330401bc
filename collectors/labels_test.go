package collectors

import (
	"testing"

	"github.com/vedetta-dc/vedetta/model"
)

// The target's target, class and labels: win over what a collector
// reports; a clashing reported label with another value is kept as
// exported_<name>, every occurrence, whatever else the sample carries.
func TestTargetLabelsWin(t *testing.T) {
	tl := Spec{Name: "ups1", Class: "ups", Labels: map[string]string{"room": "r101", "rack": "a12"}}.TargetLabels()
	cases := []struct {
		name string
		in   model.Labels
		want string
	}{
		{"nothing reported", nil,
			`{class="ups",rack="a12",room="r101",target="ups1"}`},
		{"device labels kept", model.L("outlet", "3", "trap", "upsTrapOnBattery"),
			`{class="ups",outlet="3",rack="a12",room="r101",target="ups1",trap="upsTrapOnBattery"}`},
		{"class and target both foreign", model.L("class", "x", "target", "other"),
			`{class="ups",exported_class="x",exported_target="other",rack="a12",room="r101",target="ups1"}`},
		{"labels: over a device label", model.L("room", "r999", "sensor", "t1"),
			`{class="ups",exported_room="r999",rack="a12",room="r101",sensor="t1",target="ups1"}`},
		{"every clash at once", model.L("class", "x", "rack", "b7", "room", "r999", "target", "other"),
			`{class="ups",exported_class="x",exported_rack="b7",exported_room="r999",exported_target="other",rack="a12",room="r101",target="ups1"}`},
		{"same values dropped", model.L("class", "ups", "room", "r101", "target", "ups1"),
			`{class="ups",rack="a12",room="r101",target="ups1"}`},
		{"an empty foreign value is still a value", model.L("target", ""),
			`{class="ups",exported_target="",rack="a12",room="r101",target="ups1"}`},
		{"exported_ name taken", model.L("exported_target", "a", "target", "b"),
			`{class="ups",exported_exported_target="b",exported_target="a",rack="a12",room="r101",target="ups1"}`},
		{"twice the same name", model.Labels{{Name: "target", Value: "a"}, {Name: "target", Value: "b"}},
			`{class="ups",exported_exported_target="b",exported_target="a",rack="a12",room="r101",target="ups1"}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := append(model.Labels(nil), c.in...)
			got := tl.Label(c.in)
			if got.String() != c.want {
				t.Errorf("model.Label(%v) = %v, want %s", c.in, got, c.want)
			}
			for i := 1; i < len(got); i++ {
				if got[i-1].Name >= got[i].Name {
					t.Errorf("not sorted or not unique: %v", got)
				}
			}
			if c.in.String() != in.String() {
				t.Errorf("model.Label changed its argument: %v, was %v", c.in, in)
			}
		})
	}
}

func BenchmarkTargetLabels(b *testing.B) {
	tl := Spec{Name: "ups1", Class: "ups", Labels: map[string]string{"room": "r101"}}.TargetLabels()
	for _, c := range []struct {
		name string
		ls   model.Labels
	}{{"no clash", model.L("outlet", "3", "phase", "L1")}, {"clash", model.L("outlet", "3", "target", "other")}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				tl.Label(c.ls)
			}
		})
	}
}
