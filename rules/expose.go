package rules

import (
	"sort"

	"github.com/vedetta-dc/vedetta/model"
)

// Exposition for /metrics, one metric name at a time: the HTTP side asks
// for the names, then renders each name's series under e.mu for that name
// only, so that a scrape of half a million series neither copies them all
// out nor holds the lock that Ingest needs for the whole response.

// ExposeNames appends to buf every metric name that has a series on some
// target, sorted, each once (buf is the caller's to reuse across scrapes).
// A name may have no fresh series by the time ExposeName is called.
func (e *Engine) ExposeNames(buf []string) []string {
	e.mu.Lock()
	seen := make(map[string]struct{}, len(buf))
	for _, ts := range e.targets {
		for name, list := range ts.byName {
			if len(list) == 0 {
				continue
			}
			if _, ok := seen[name]; !ok {
				seen[name] = struct{}{}
				buf = append(buf, name)
			}
		}
	}
	e.mu.Unlock()
	sort.Strings(buf)
	return buf
}

// ExposeName calls fn with the labels and newest value of every series of
// name that is not stale (as Latest filters them), holding e.mu: fn must
// not block (render into memory, never write to the network) and must not
// keep labels after it returns. No allocation.
func (e *Engine) ExposeName(name string, fn func(labels model.Labels, v float64)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.opts.Now().UnixNano()
	for target, ts := range e.targets {
		list := ts.byName[name]
		if len(list) == 0 {
			continue
		}
		fresh := now - int64(e.staleAfter(target))
		for _, s := range list {
			if t, v, ok := s.last(); ok && t >= fresh {
				fn(s.labels, v)
			}
		}
	}
}
