package main

import (
	"encoding/json"
	"math"
	"testing"
)

// What members publish is read back by the dispatcher: an entry that is
// not what a member writes gives no sample, never a wrong one.
func TestDecodePublished(t *testing.T) {
	cases := []struct {
		name, in string
		want     int
		err      bool
	}{
		{"a member's entry", `{"s":[{"n":"ups_on_battery","l":{"target":"ups-a","class":"ups"},"v":1,"t":1764590000000}]}`, 1, false},
		{"another target's label set", `{"s":[{"n":"ups_on_battery","l":{"target":"ups-b"},"v":1,"t":1764590000000}]}`, 0, false},
		{"no name", `{"s":[{"l":{"target":"ups-a"},"v":1,"t":1764590000000}]}`, 0, false},
		{"no time", `{"s":[{"n":"x","l":{"target":"ups-a"},"v":1}]}`, 0, false},
		{"not JSON", `{"s":[`, 0, true},
		{"a value that is not a number", `{"s":[{"n":"x","l":{"target":"ups-a"},"v":"NaN","t":1}]}`, 0, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ss, err := decodePublished("ups-a", []byte(c.in))
			if (err != nil) != c.err || len(ss) != c.want {
				t.Fatalf("%d samples, err %v; want %d, error %v", len(ss), err, c.want, c.err)
			}
			for _, s := range ss {
				if s.Labels.Get("target") != "ups-a" || s.Name == "" {
					t.Errorf("sample %+v", s)
				}
			}
		})
	}
}

func FuzzDecodePublished(f *testing.F) {
	b, _ := json.Marshal(published{Samples: []publishedSample{{Name: "ups_on_battery", Labels: map[string]string{"target": "t", "class": "ups"}, Value: 0, Time: 1764590000000}}})
	f.Add("t", b)
	f.Add("t", []byte(`{"s":[{"n":"x","l":{"target":"t"},"v":1e308,"t":-1}]}`))
	f.Add("", []byte(`{}`))
	f.Fuzz(func(t *testing.T, target string, in []byte) {
		ss, err := decodePublished(target, in)
		if err != nil && len(ss) > 0 {
			t.Fatal("samples with an error")
		}
		for _, s := range ss {
			if s.Name == "" || s.Labels.Get("target") != target || math.IsNaN(s.Value) || math.IsInf(s.Value, 0) || s.Time.UnixMilli() <= 0 {
				t.Fatalf("a sample that cannot be right: %+v", s)
			}
		}
	})
}
