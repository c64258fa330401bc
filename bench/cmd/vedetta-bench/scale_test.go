package main

import (
	"strings"
	"testing"
	"time"
)

func TestScaleJudge(t *testing.T) {
	iv := time.Minute
	t0 := time.Unix(1_800_000_000, 0)
	s := &sim{kinds: []string{"ups", "switch", "ups", "switch"}, alive: []bool{true, true, true, false}, slow: []bool{false, true, false, false}}
	col := func(start time.Duration, dur time.Duration) collection {
		return collection{start: t0.Add(start), dur: dur, up: true}
	}
	round2 := map[string]collection{"ups-0": col(iv, time.Second), "switch-1": col(iv, 3*time.Second), "ups-2": col(iv, time.Second)}
	for _, c := range []struct {
		name   string
		round3 map[string]collection
		kept   bool
		gap    time.Duration
		late   int
		unfin  int
	}{
		{"every round on time (the dead agent does not count)", map[string]collection{
			"ups-0": col(2*iv, time.Second), "switch-1": col(2*iv+500*time.Millisecond, 4*time.Second), "ups-2": col(2*iv, time.Second)}, true, iv + 500*time.Millisecond, 0, 0},
		{"a round starts 2 s late", map[string]collection{
			"ups-0": col(2*iv+2*time.Second, time.Second), "switch-1": col(2*iv, 4*time.Second), "ups-2": col(2*iv, time.Second)}, false, iv + 2*time.Second, 1, 0},
		{"a round not over three quarters in", map[string]collection{
			"ups-0": col(iv, time.Second), "switch-1": col(2*iv, 4*time.Second), "ups-2": col(2*iv, time.Second)}, false, iv, 0, 1},
		{"a round as long as the interval", map[string]collection{
			"ups-0": col(2*iv, iv), "switch-1": col(2*iv, 4*time.Second), "ups-2": col(2*iv, time.Second)}, false, iv, 0, 0},
	} {
		r := &scaleResult{interval: iv, slots: 2}
		r.judge(s, round2, c.round3)
		var sum time.Duration
		for _, x := range c.round3 {
			sum += x.dur
		}
		if r.busy != sum/2 {
			t.Errorf("%s: busy %v, want %v", c.name, r.busy, sum/2)
		}
		if r.kept != c.kept || r.maxGap != c.gap || r.late != c.late || r.unfinished != c.unfin {
			t.Errorf("%s: kept %v gap %v late %d unfinished %d; want %v %v %d %d", c.name, r.kept, r.maxGap, r.late, r.unfinished, c.kept, c.gap, c.late, c.unfin)
		}
	}
}

func TestScaleLimit(t *testing.T) {
	for _, c := range []struct {
		name string
		r    scaleResult
		want string
	}{
		{"cpu", scaleResult{cpu: 1e6, simCPU: 10}, "CPU saturated"},
		{"slots", scaleResult{cpu: 10, busy: 58 * time.Second, slots: 64}, "the scheduler's slots"},
		{"fds", scaleResult{cpu: 10, fds: 19000, nofile: 20000}, "file descriptors"},
		{"fd errors", scaleResult{cpu: 10, fds: 10, nofile: 20000, fdErrors: 3}, "file descriptors"},
		{"simulator cpu", scaleResult{cpu: 10, simCPU: 55, nofile: 20000}, "the simulator"},
		{"simulator drops", scaleResult{cpu: 10, simCPU: 5, nofile: 20000, simDrops: 7}, "the simulator"},
		{"none", scaleResult{cpu: 10, simCPU: 5, nofile: 20000}, "not identified"},
	} {
		c.r.interval = time.Minute
		if got := c.r.limit(); !strings.HasPrefix(got, c.want) {
			t.Errorf("%s: %q, want %q…", c.name, got, c.want)
		}
	}
}

func TestAgentsPerSim(t *testing.T) {
	for _, c := range []struct {
		nofile uint64
		mix    string
		want   int
	}{
		{20000, "ups:1,switch:1", 19488},
		{20001, "ups:1,switch:1", 19488}, // even: every process starts with a UPS
		{20000, "switch:1", 19488},
		{1513, "a:2,b:1", 999},
		{100, "ups:1,switch:1", 2}, // never below one round of the mix
	} {
		if got := agentsPerSim(c.nofile, c.mix); got != c.want {
			t.Errorf("agentsPerSim(%d, %q) = %d, want %d", c.nofile, c.mix, got, c.want)
		}
	}
}
