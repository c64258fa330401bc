package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseSections(t *testing.T) {
	for _, c := range []struct {
		in, want string // want: the sections run, or the error's start
		partial  bool
		err      bool
	}{
		{in: "", want: "poll,latency,rules,memory,scale"},
		{in: "scale", want: "scale", partial: true},
		{in: " memory , poll", want: "poll,memory", partial: true},
		{in: "poll,latency,rules,memory,scale", want: "poll,latency,rules,memory,scale"},
		{in: "pol", want: `--only: unknown section "pol"`, err: true},
		{in: "scale,", want: `--only: unknown section ""`, err: true},
	} {
		s, err := parseSections(c.in)
		switch {
		case c.err && (err == nil || !strings.HasPrefix(err.Error(), c.want)):
			t.Errorf("parseSections(%q): err %v, want %q…", c.in, err, c.want)
		case !c.err && err != nil:
			t.Errorf("parseSections(%q): %v", c.in, err)
		case !c.err && (s.String() != c.want || s.partial() != c.partial):
			t.Errorf("parseSections(%q) = %s (partial %v), want %s (partial %v)", c.in, s, s.partial(), c.want, c.partial)
		}
	}
}

// A partial run never writes over a full report: BENCHMARKS.md by name,
// or any file a full run wrote.
func TestCheckPartialOut(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	full := write("repo/BENCHMARKS.md", fullReportTitle+"\n\nWritten by …\n")
	fullElsewhere := write("full.md", fullReportTitle+"\n")
	partialOld := write("partial.md", fullReportTitle+" (partial run: scale)\n")
	other := write("notes.md", "# notes\n")
	scale, _ := parseSections("scale")
	for _, c := range []struct {
		name    string
		only    sections
		out     string
		refused bool
	}{
		{"partial over BENCHMARKS.md", scale, full, true},
		{"partial over a full report elsewhere", scale, fullElsewhere, true},
		{"partial over a partial report", scale, partialOld, false},
		{"partial over another file", scale, other, false},
		{"partial to a new file", scale, filepath.Join(dir, "new.md"), false},
		{"partial to a new BENCHMARKS.md", scale, filepath.Join(dir, "empty", "BENCHMARKS.md"), false},
		{"partial, no --out", scale, "", false},
		{"full over BENCHMARKS.md", nil, full, false},
	} {
		err := checkPartialOut(c.only, c.out)
		if (err != nil) != c.refused {
			t.Errorf("%s: err %v, refused want %v", c.name, err, c.refused)
		}
		if err != nil && !strings.Contains(err.Error(), "--only scale would overwrite the full report") {
			t.Errorf("%s: unclear error %q", c.name, err)
		}
	}
}
