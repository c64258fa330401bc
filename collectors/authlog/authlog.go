package authlog

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/vedetta-dc/vedetta/collectors"
	"github.com/vedetta-dc/vedetta/model"
)

// Options is the `authlog:` block of a target.
type Options struct {
	// Path of the log (/var/log/auth.log, /var/log/secure); empty reads
	// the journal (facilities auth and authpriv) through journalctl.
	Path       string `yaml:"path"`
	Journalctl string `yaml:"journalctl"`
	// TopWindow is how far back the top source addresses are counted.
	TopWindow time.Duration `yaml:"top_window"`
	// TopSources is how many of them are exported (at most 20).
	TopSources int `yaml:"top_sources"`
	// FromStart counts what the file or journal already holds at the first
	// round; by default only what is written afterwards counts.
	FromStart bool `yaml:"from_start"`
}

type options struct {
	Authlog Options `yaml:"authlog"`
}

// Collector follows one auth log. It keeps its counters and position
// between rounds (one instance per target, never called concurrently).
type Collector struct {
	opts   Options
	log    *slog.Logger
	now    func() time.Time
	parser *Parser
	tail   *tailer
	win    *window
	totals map[string]float64
	lines  float64
	// journal position
	cursor string
	since  time.Time
	jstart bool
}

// New validates the options; it does not open the log.
func New(spec collectors.Spec, decode collectors.Decode) (collectors.Collector, error) {
	var o options
	if err := decode(&o); err != nil {
		return nil, err
	}
	opts := o.Authlog
	if opts.TopWindow == 0 {
		opts.TopWindow = 10 * time.Minute
	}
	if opts.TopWindow < time.Minute || opts.TopWindow > 24*time.Hour {
		return nil, fmt.Errorf("authlog.top_window must be between 1m and 24h, got %v", opts.TopWindow)
	}
	if opts.TopSources == 0 {
		opts.TopSources = 5
	}
	if opts.TopSources < 1 || opts.TopSources > 20 {
		return nil, fmt.Errorf("authlog.top_sources must be between 1 and 20, got %d", opts.TopSources)
	}
	if opts.Journalctl == "" {
		opts.Journalctl = "journalctl"
	}
	c := &Collector{opts: opts, now: time.Now, parser: NewParser(), win: newWindow(opts.TopWindow),
		totals: map[string]float64{"sshd": 0, "sudo": 0}}
	if opts.Path != "" {
		p := opts.Path
		if !filepath.IsAbs(p) {
			p = filepath.Join(spec.BaseDir, p)
		}
		c.tail = &tailer{path: p, fromStart: opts.FromStart}
	}
	log := spec.Logger
	if log == nil {
		log = slog.Default()
	}
	c.log = log
	return c, nil
}

func (c *Collector) record(now time.Time, ev Event) {
	c.totals[ev.Service] += float64(ev.Count)
	c.win.add(now, ev.Source, ev.Count)
}

// Collect reads what was logged since the last round.
func (c *Collector) Collect(ctx context.Context, emit func(model.Sample)) error {
	now := c.now()
	var err error
	if c.tail != nil {
		err = c.tail.poll(func(line string) {
			c.lines++
			if ev, ok := c.parser.Line(line); ok {
				c.record(now, ev)
			}
		})
	} else {
		err = c.readJournal(ctx, now)
	}
	services := make([]string, 0, len(c.totals))
	for s := range c.totals {
		services = append(services, s)
	}
	sort.Strings(services)
	for _, s := range services {
		emit(model.Sample{Name: "auth_failures_total", Labels: model.L("service", s), Value: c.totals[s]})
	}
	top := c.win.top(now, c.opts.TopSources)
	for _, sc := range top {
		emit(model.Sample{Name: "auth_failures_top_sources", Labels: model.L("source", sc.Key), Value: float64(sc.N)})
	}
	if len(top) > 0 {
		emit(model.Sample{Name: "auth_failures_top_source", Labels: model.L("source", top[0].Key), Value: float64(top[0].N)})
	}
	emit(model.Sample{Name: "authlog_lines_total", Value: c.lines})
	if c.tail != nil {
		emit(model.Sample{Name: "authlog_rotations_total", Value: float64(c.tail.rotations)})
	}
	return err
}

var authFacilities = []string{"SYSLOG_FACILITY=4", "SYSLOG_FACILITY=10"}

// readJournal runs journalctl once per round from the saved cursor (no
// long-running `journalctl -f`: nothing outlives a round, and the context
// bounds it).
func (c *Collector) readJournal(ctx context.Context, now time.Time) error {
	args := []string{"-o", "json", "--no-pager", "-q"}
	first := !c.jstart
	switch {
	case first && !c.opts.FromStart:
		args = append(args, "-n", "1") // only to learn where the journal ends
	case first:
	case c.cursor != "":
		args = append(args, "--after-cursor="+c.cursor)
	default:
		args = append(args, fmt.Sprintf("--since=@%d", c.since.Unix()))
	}
	args = append(args, authFacilities...)
	cmd := exec.CommandContext(ctx, c.opts.Journalctl, args...)
	cmd.WaitDelay = 2 * time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("journalctl: %w", ctx.Err())
		}
		return fmt.Errorf("journalctl: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	c.jstart = true
	if first {
		c.since = now
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	var bad int
	for sc.Scan() {
		var e struct {
			Cursor  string          `json:"__CURSOR"`
			Ident   string          `json:"SYSLOG_IDENTIFIER"`
			PID     string          `json:"_PID"`
			SPID    string          `json:"SYSLOG_PID"`
			Message json.RawMessage `json:"MESSAGE"`
		}
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			bad++
			continue
		}
		if e.Cursor != "" {
			c.cursor = e.Cursor
		}
		if first && !c.opts.FromStart {
			continue // the entry before our start: position only
		}
		c.lines++
		pid := e.SPID
		if pid == "" {
			pid = e.PID
		}
		if ev, ok := c.parser.Message(e.Ident, pid, journalMessage(e.Message)); ok {
			c.record(now, ev)
		}
	}
	if bad > 0 {
		return fmt.Errorf("journalctl: %d lines were not JSON", bad)
	}
	return sc.Err()
}

// journalMessage decodes MESSAGE: a string, or an array of bytes when the
// message is not valid UTF-8.
func journalMessage(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var b []byte
	var ints []int
	if json.Unmarshal(raw, &ints) == nil {
		for _, i := range ints {
			b = append(b, byte(i))
		}
		return string(b)
	}
	return ""
}

// window counts failures per source in one-minute buckets.
type window struct {
	span    time.Duration
	buckets []bucket
}

type bucket struct {
	start  time.Time
	counts map[string]int
}

// maxSourcesPerBucket bounds memory under a botnet: the rest is "other".
const maxSourcesPerBucket = 10000

func newWindow(span time.Duration) *window { return &window{span: span} }

func (w *window) add(now time.Time, source string, n int) {
	start := now.Truncate(time.Minute)
	if len(w.buckets) == 0 || !w.buckets[len(w.buckets)-1].start.Equal(start) {
		w.buckets = append(w.buckets, bucket{start: start, counts: map[string]int{}})
	}
	b := w.buckets[len(w.buckets)-1]
	if _, ok := b.counts[source]; !ok && len(b.counts) >= maxSourcesPerBucket {
		source = "other"
	}
	b.counts[source] += n
	w.expire(now)
}

func (w *window) expire(now time.Time) {
	cut := now.Add(-w.span)
	i := 0
	for i < len(w.buckets) && !w.buckets[i].start.After(cut) {
		i++
	}
	w.buckets = w.buckets[i:]
}

// top returns the k sources with most failures in the window, most first
// (ties by address, so the order is stable).
func (w *window) top(now time.Time, k int) []collectors.Count {
	w.expire(now)
	sum := map[string]int{}
	for _, b := range w.buckets {
		for s, n := range b.counts {
			sum[s] += n
		}
	}
	out := collectors.Ranked(sum)
	return out[:min(k, len(out))]
}
