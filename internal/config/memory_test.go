package config

import (
	"strconv"
	"strings"
	"testing"
)

func TestParseBytes(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
		bad  bool
	}{
		{"536870912", 536870912, false},
		{"512MiB", 512 << 20, false},
		{"1.5GiB", 3 << 29, false},
		{"800MB", 800e6, false},
		{"2g", 2 << 30, false},
		{" 64 kib ", 64 << 10, false},
		{"100B", 100, false},
		{"", 0, true},
		{"lots", 0, true},
		{"-1GiB", 0, true},
		{"512 MiB of RAM", 0, true},
		{"1e30TB", 0, true},
		{"NaN", 0, true},
	} {
		got, err := ParseBytes(c.in)
		if (err != nil) != c.bad || got != c.want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d, error %v", c.in, got, err, c.want, c.bad)
		}
	}
}

// memory_limit: a bad or too small size names its file, line and field.
func TestMemoryLimitField(t *testing.T) {
	for _, c := range []struct {
		value, want string
		bytes       int64
	}{
		{"768MiB", "", 768 << 20},
		{"16MiB", ":2: memory_limit: want at least 32MiB", 0},
		{"a lot", `:2: memory_limit: want a size like 512MiB, 2GiB or 800MB, got "a lot"`, 0},
	} {
		p := write(t, t.TempDir(), "v.yaml", strings.Replace(base, "site: dc1\n", "site: dc1\nmemory_limit: "+c.value+"\n", 1))
		cfg, err := Load(p)
		if c.want == "" {
			if err != nil {
				t.Fatalf("%s: %v", c.value, err)
			}
			if n, _ := cfg.MemoryLimitBytes(); n != c.bytes {
				t.Errorf("%s: %d bytes, want %d", c.value, n, c.bytes)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), p+c.want) {
			t.Errorf("%s: error %v, want it to contain %s%s", c.value, err, p, c.want)
		}
	}
}

// ParseBytes reads what a config file says: never a panic, never a
// negative size, and a size it accepts reads the same after formatting.
func FuzzParseBytes(f *testing.F) {
	for _, s := range []string{"536870912", "512MiB", "1.5GiB", "800MB", "2g", " 64 kib ", "1e30TB", "-1", "NaN", "0x10MB", "Inf"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseBytes(s)
		if err != nil {
			return
		}
		if n < 0 {
			t.Fatalf("ParseBytes(%q) = %d", s, n)
		}
		if back, err := ParseBytes(strconv.FormatInt(n, 10)); err != nil || back != n {
			t.Fatalf("ParseBytes(%q) = %d, but %d reads as %d, %v", s, n, n, back, err)
		}
	})
}
