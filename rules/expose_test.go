package rules

import (
	"fmt"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/internal/testclock"
	"github.com/vedetta-dc/vedetta/model"
)

// ExposeNames lists each name once, sorted, across targets; ExposeName
// gives a name's fresh series only (stale: older than three intervals)
// and allocates nothing per series.
func TestExpose(t *testing.T) {
	clock := testclock.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	e := New(Options{Now: clock.Now, Logger: discard(), Intervals: map[string]time.Duration{"slow": 10 * time.Minute}})
	now := clock.Now()
	for _, b := range []model.Batch{
		{Target: "fast", Samples: []model.Sample{
			{Name: "b_celsius", Labels: model.L("target", "fast", "s", "1"), Value: 1, Time: now},
			{Name: "b_celsius", Labels: model.L("target", "fast", "s", "old"), Value: 2, Time: now.Add(-91 * time.Second)},
			{Name: "a_total", Labels: model.L("target", "fast"), Value: 3, Time: now},
		}},
		{Target: "slow", Samples: []model.Sample{
			{Name: "b_celsius", Labels: model.L("target", "slow"), Value: 4, Time: now.Add(-29 * time.Minute)},
			{Name: "c_volts", Labels: model.L("target", "slow"), Value: 5, Time: now.Add(-31 * time.Minute)},
		}},
	} {
		e.Ingest(b)
	}
	if got, want := fmt.Sprint(e.ExposeNames(nil)), "[a_total b_celsius c_volts]"; got != want {
		t.Errorf("names %s, want %s", got, want)
	}
	for _, c := range []struct {
		name string
		want map[string]float64
	}{
		{"a_total", map[string]float64{`{target="fast"}`: 3}},
		{"b_celsius", map[string]float64{`{s="1",target="fast"}`: 1, `{target="slow"}`: 4}},
		{"c_volts", map[string]float64{}},
		{"no_such_metric", map[string]float64{}},
	} {
		got := map[string]float64{}
		e.ExposeName(c.name, func(ls model.Labels, v float64) { got[ls.String()] = v })
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
	n := 0
	fn := func(model.Labels, float64) { n++ }
	if allocs := testing.AllocsPerRun(100, func() { e.ExposeName("b_celsius", fn) }); allocs != 0 {
		t.Errorf("ExposeName allocates %v times a call", allocs)
	}
	if n == 0 {
		t.Error("ExposeName called fn for no series")
	}
}
