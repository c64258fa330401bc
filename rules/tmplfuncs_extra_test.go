package rules

import "testing"

func TestApproxDuration(t *testing.T) {
	for _, tc := range []struct {
		in   float64
		want string
	}{
		{0, "0 s"}, {45, "45 s"}, {89.4, "89 s"}, {90, "2 min"}, {420, "7 min"}, {480, "8 min"},
		{2580, "43 min"}, {3569, "59 min"}, {3570, "1 h"}, {7800, "2 h 10 min"}, {26 * 3600, "1 d 2 h"},
		{14 * 86400, "14 d"}, {-600, "-10 min"},
	} {
		if got := approxDuration(tc.in); got != tc.want {
			t.Errorf("approxDuration(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
