package collectors

import (
	"unsafe"

	"github.com/vedetta-dc/vedetta/model"
)

// labelCache keeps, per target, the labels TargetLabels.Label made for each
// label set its collector reported in the last poll. A collector that
// interns its label sets (snmp) hands the same slice every poll, so a poll
// then merges nothing: merging allocated a slice per sample per poll, the
// largest share of a poll's garbage.
//
// A hit is checked against the merged labels, not trusted: a collector
// that rewrote a slice in place between polls gets a fresh merge.
type labelCache struct {
	m   map[labelKey]cachedLabels
	gen uint32 // polls so far
}

type cachedLabels struct {
	out model.Labels
	gen uint32 // the last poll that reported it
}

// labelKey is a reported label set's identity: its backing array and
// length. The cached merge keeps nothing of the slice alive, so an address
// can be reused by another set later; the check on a hit catches that.
type labelKey struct {
	p *model.Label
	n int
}

// label is t.Label(ls), from the cache when ls was reported before.
func (c *labelCache) label(t TargetLabels, ls model.Labels) model.Labels {
	if len(ls) == 0 {
		return t.Label(ls)
	}
	k := labelKey{unsafe.SliceData(ls), len(ls)}
	if e, ok := c.m[k]; ok && isMerge(e.out, t, ls) {
		if e.gen != c.gen {
			c.m[k] = cachedLabels{e.out, c.gen}
		}
		return e.out
	}
	out := t.Label(ls)
	if len(out) == len(t)+len(ls) { // no clash with the target's labels: a plain merge
		if c.m == nil {
			c.m = map[labelKey]cachedLabels{}
		}
		c.m[k] = cachedLabels{out, c.gen}
	}
	return out
}

// rotate ends a poll: a set it did not report is forgotten.
func (c *labelCache) rotate() {
	for k, e := range c.m {
		if e.gen != c.gen {
			delete(c.m, k)
		}
	}
	c.gen++
}

// isMerge reports whether merged is exactly own and ls merged by name with
// no name in both (model.Merge's walk, comparing instead of appending): a
// cached merge is returned only when it is what Label would make now.
func isMerge(merged model.Labels, own TargetLabels, ls model.Labels) bool {
	if len(merged) != len(own)+len(ls) {
		return false
	}
	i, j := 0, 0
	for _, m := range merged {
		switch {
		case j == len(ls) || i < len(own) && own[i].Name < ls[j].Name:
			if own[i] != m {
				return false
			}
			i++
		case i == len(own) || ls[j].Name < own[i].Name:
			if ls[j] != m {
				return false
			}
			j++
		default: // the same name in both: Label moves or drops it
			return false
		}
	}
	return true
}
