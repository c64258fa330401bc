package exec

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/vedetta-dc/vedetta/model"
)

func addTestdata(f *testing.F, pattern string) {
	files, _ := filepath.Glob(filepath.Join("testdata", pattern))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
}

// checkLabels: names sorted, unique and not empty (so equal sets have equal
// keys).
func checkLabels(t *testing.T, s model.Sample) {
	t.Helper()
	for i, l := range s.Labels {
		if l.Name == "" || i > 0 && s.Labels[i-1].Name >= l.Name {
			t.Errorf("%s%s: label names not sorted, unique and set", s.Name, s.Labels)
			return
		}
	}
}

// FuzzParsePrometheus: any script output. The parser either refuses it
// (and then emits nothing) or emits named samples with well-formed labels
// and no NaN (NaN is dropped: "no sample" rather than a value no rule can
// compare; ±Inf are kept, the text format allows them).
func FuzzParsePrometheus(f *testing.F) {
	addTestdata(f, "*.prom")
	for _, s := range []string{"", "\n", "x 1", "x{a=\"b\"} +Inf 123", "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n",
		"# TYPE s summary\ns{quantile=\"NaN\"} 1\n", `{"utf8.name", a="1"} 2` + "\n", "x -Inf\nx NaN\n", "broken{ 1\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, out []byte) {
		var got []model.Sample
		err := parsePrometheus(out, func(s model.Sample) { got = append(got, s) })
		if err != nil {
			if len(got) > 0 {
				t.Errorf("refused (%v) but emitted %d samples", err, len(got))
			}
			return
		}
		for _, s := range got {
			if s.Name == "" {
				t.Errorf("sample without a name: %v", s)
			}
			if math.IsNaN(s.Value) {
				t.Errorf("%s%s = NaN, want it dropped", s.Name, s.Labels)
			}
			checkLabels(t, s)
		}
	})
}

// FuzzParseNagios: any plugin output. Only the three perfdata samples come
// out, labelled {label, uom}, with finite values: a plugin reports numbers,
// and "U", garbage, NaN, Inf or an overflow in unit scaling are no sample
// rather than a wrong one.
func FuzzParseNagios(f *testing.F) {
	addTestdata(f, "nagios*.txt")
	for _, s := range []string{"", "OK", "OK|", "OK | a=1", "OK | 'disk /var'=50%;80;90;0;100 b=U c=1,5s",
		"OK | t=1e300TB;1e300;1e300", "OK | a=1;NaN;Inf", "line1\nline2 | x=2ms\nlong | y=3KB", "OK|'unterminated=1 b=2", "|=1 '=2"} {
		f.Add([]byte(s))
	}
	names := map[string]bool{"check_perfdata": true, "check_perfdata_warning": true, "check_perfdata_critical": true}
	f.Fuzz(func(t *testing.T, out []byte) {
		parseNagiosPerfdata(string(out), func(s model.Sample) {
			if !names[s.Name] {
				t.Errorf("unexpected sample %s%s", s.Name, s.Labels)
			}
			if math.IsNaN(s.Value) || math.IsInf(s.Value, 0) {
				t.Errorf("%s%s = %v, want a finite value", s.Name, s.Labels, s.Value)
			}
			if len(s.Labels) != 2 || s.Labels[0].Name != "label" || s.Labels[1].Name != "uom" {
				t.Errorf("%s%s: want exactly {label, uom}", s.Name, s.Labels)
			}
			checkLabels(t, s)
		})
	})
}
