package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// minMemoryLimit refuses a limit the daemon cannot live in: under it the
// garbage collector would run without pause and alarms would be late.
const minMemoryLimit = 32 << 20

// byteUnits are the suffixes ParseBytes accepts (case-insensitive).
var byteUnits = []struct {
	suffix string
	mult   float64
}{
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12},
	{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"t", 1 << 40}, // docker-style short forms
	{"b", 1},
}

// ParseBytes reads a size: 536870912, 512MiB, 1.5GiB, 800MB, 2g.
func ParseBytes(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	mult := 1.0
	for _, u := range byteUnits {
		if rest, ok := strings.CutSuffix(t, u.suffix); ok {
			t, mult = strings.TrimSpace(rest), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || math.IsNaN(f) || f < 0 || f*mult >= math.MaxInt64 {
		return 0, fmt.Errorf("want a size like 512MiB, 2GiB or 800MB, got %q", s)
	}
	return int64(f * mult), nil
}

// MemoryLimitBytes is memory_limit in bytes (0: not set).
func (c *Config) MemoryLimitBytes() (int64, error) {
	if c.MemoryLimit == "" {
		return 0, nil
	}
	n, err := ParseBytes(c.MemoryLimit)
	if err != nil {
		return 0, err
	}
	if n < minMemoryLimit {
		return 0, fmt.Errorf("want at least 32MiB, got %q", c.MemoryLimit)
	}
	return n, nil
}
