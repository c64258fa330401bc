package collectors

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/model"
)

func TestCatalogueSuggest(t *testing.T) {
	c := NewCatalogue()
	c.Register("nut", []string{"ups_on_battery", "ups_on_line", "ups_battery_charge_percent", "ups_battery_charging", "ups_battery_runtime_seconds"})
	c.Register("host", []string{"host_load1", "host_load5", "host_memory_total_bytes", "host_memory_available_bytes"})
	cases := []struct{ name, want string }{
		{"ups_on_batery", "ups_on_battery"},                  // a letter missing
		{"ups_onbattery", "ups_on_battery"},                  // an underscore missing
		{"ups_on_battrey", "ups_on_battery"},                 // two letters swapped
		{"host_lod1", "host_load1"},                          // short names: one edit
		{"ups_battery_charge", "ups_battery_charge_percent"}, // the unit forgotten, closer to charging in edits
		{"ups_battery_runtime", "ups_battery_runtime_seconds"},
		{"host_memory", ""}, // two names extend it: no guess
		{"ups_up", ""},      // too far from anything
		{"frobnication_level", ""},
		{"host_load9", "host_load1"}, // of two as close, the first in order
	}
	for _, tc := range cases {
		if got := c.Suggest(tc.name); got != tc.want {
			t.Errorf("Suggest(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
	c.Add("host", "ups_on_battery") // a name two kinds emit
	if got := c.Emitters("ups_on_battery"); !slices.Equal(got, []string{"host", "nut"}) {
		t.Errorf("Emitters = %v", got)
	}
	if c.Emitters("ups_on_batery") != nil {
		t.Error("an unknown name has emitters")
	}
	if got := c.Kinds(); !slices.Equal(got, []string{"host", "nut"}) {
		t.Errorf("Kinds = %v", got)
	}
	defer func() {
		if recover() == nil {
			t.Error("a kind catalogued twice does not panic")
		}
	}()
	c.Register("nut", nil)
}

// SchedulerMetricNames are what the scheduler adds to a batch, up or down.
func TestSchedulerMetricNames(t *testing.T) {
	for _, fail := range []bool{false, true} {
		c := collectFunc(func(context.Context, func(model.Sample)) error {
			if fail {
				return errors.New("no answer")
			}
			return nil
		})
		s := NewScheduler([]Target{{Spec: spec("p", time.Second, 500*time.Millisecond), Collector: c}}, 1, func(model.Batch) {}, quiet())
		b, err := s.CollectOnce(context.Background(), "p")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, smp := range b.Samples {
			got = append(got, smp.Name)
		}
		slices.Sort(got)
		want := slices.Sorted(slices.Values(SchedulerMetricNames()))
		if !slices.Equal(got, want) {
			t.Errorf("failing %v: scheduler emits %v, catalogue says %v", fail, got, want)
		}
	}
}
