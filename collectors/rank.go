package collectors

import "sort"

// Count is how often a key (a source address, a sender) was seen.
type Count struct {
	Key string
	N   int
}

// Ranked returns the counts most first, ties by key, so that the order and
// a top-k cut of it are stable from one round to the next.
func Ranked(counts map[string]int) []Count {
	out := make([]Count, 0, len(counts))
	for k, n := range counts {
		out = append(out, Count{k, n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].N != out[j].N {
			return out[i].N > out[j].N
		}
		return out[i].Key < out[j].Key
	})
	return out
}
