package config

import "testing"

// max_concurrent_collections left out scales with the targets: a slot is
// held while a dead agent times out, and 64 slots could not hold a
// 60 s round of 10,000 targets with 5 % dead and 5 % slow.
func TestDefaultMaxConcurrent(t *testing.T) {
	for _, c := range []struct{ targets, want int }{{0, 64}, {1, 64}, {1024, 64}, {2000, 125}, {10000, 625}, {50000, 1024}} {
		if got := DefaultMaxConcurrent(c.targets); got != c.want {
			t.Errorf("DefaultMaxConcurrent(%d) = %d, want %d", c.targets, got, c.want)
		}
	}
}
