// Package snmp polls SNMP agents (UPSes, ATSes, generators, PDUs,
// environment monitors, switches, hosts) and turns vendor MIBs into
// normalized metrics through declarative profiles (profiles/*.yaml), and
// listens for traps. See README.md.
package snmp

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vedetta-dc/vedetta/collectors"
	"github.com/vedetta-dc/vedetta/internal/config"
	"github.com/vedetta-dc/vedetta/model"
)

const (
	oidSysObjectID = "1.3.6.1.2.1.1.2.0"
	// redetectEvery bounds how long an auto-detection result is trusted (a
	// card replaced, a firmware upgrade).
	redetectEvery = 10 * time.Minute
)

// DefaultMaxPolls bounds the polls in flight of one Kind, whatever the
// scheduler allows (a trap-triggered poll comes on top of the round).
const DefaultMaxPolls = 256

// Kind is the collector kind "snmp" of one config generation: the profile
// set its targets are built with, and the limit of polls in flight they
// share. cmd/vedetta builds one per config, so nothing of it is global and
// a new config never changes what the running collectors use.
type Kind struct {
	profiles *ProfileSet
	slots    chan struct{}
	// implausible is set by Register, which may come after the targets
	// are built (the daemon's registry exists once the config is good).
	implausible atomic.Pointer[prometheus.CounterVec]
	views       *sync.Pool // *view, reused by every poll of its targets
}

// newViewPool makes the pool the views of a poll come from: as many as
// polls in flight, not one per target.
func newViewPool() *sync.Pool {
	return &sync.Pool{New: func() any { return newView() }}
}

// NewKind makes the kind for one profile set; maxPolls <= 0 means
// DefaultMaxPolls.
func NewKind(profiles *ProfileSet, maxPolls int) *Kind {
	if profiles == nil {
		profiles = EmbeddedProfiles()
	}
	if maxPolls <= 0 {
		maxPolls = DefaultMaxPolls
	}
	return &Kind{profiles: profiles, slots: make(chan struct{}, maxPolls), views: newViewPool()}
}

// Register puts the kind's own metrics on reg (the registry vedetta's
// /metrics serves): vedetta_snmp_implausible_values_total{target, metric,
// reason}. A kind of the next config generation registering on the same
// registry shares the counter. Without it the values are still dropped,
// and only counted in the collectors (Collector.Implausible).
func (kd *Kind) Register(reg prometheus.Registerer) error {
	c, err := implausibleMetrics(reg)
	if err != nil {
		return err
	}
	kd.implausible.Store(c)
	return nil
}

// New is the collectors.Factory of kind "snmp". It checks the options and
// the profile names against the kind's profile set, and contacts nobody.
func (kd *Kind) New(spec collectors.Spec, decode collectors.Decode) (collectors.Collector, error) {
	var o Options
	if err := decode(&o); err != nil {
		return nil, err
	}
	k, err := NewCollector(spec.Name, o, kd.profiles, spec.Logger)
	if err != nil {
		return nil, err
	}
	k.slots = kd.slots
	k.views = kd.views
	k.guard.counter = kd.implausible.Load
	return k, nil
}

// Collector polls one agent. Its session is used by one goroutine at a
// time (mu); the scheduler never runs two rounds of a target at once, the
// mutex only guards `probe` style concurrent use.
type Collector struct {
	name  string
	agent Agent
	names []string // profile names, or ["auto"]
	set   *ProfileSet
	slots chan struct{} // shared with the kind's other collectors; nil: no limit
	views *sync.Pool    // shared with the kind's other collectors
	log   *slog.Logger

	mu         sync.Mutex
	c          *client
	detected   []*Profile
	sysOID     string
	detectedAt time.Time
	truncated  map[string]float64 // walk root -> polls whose walk stopped at max_walk_varbinds
	guard      *guard             // plausibility: autoscale factors chosen for this device, drops counted
	rows       tableRows          // rows per table in the last round: sizes the next GETBULKs
	interns    interns            // texts and label sets of its polls, kept across sessions (view.go)
	wire       WireCount          // the last poll's requests and varbinds
}

// WireCount is what one poll cost on the wire: requests sent, varbinds
// received (auto-detection excluded), and of those the objects the
// profiles read (in a polled scalar or column, with a value). Fetched -
// Used is the overshoot: GETBULK rows past a column's end.
type WireCount struct {
	Requests, Fetched, Used int
}

// LastPoll returns the wire count of the collector's last poll.
func (k *Collector) LastPoll() WireCount {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.wire
}

// NewCollector builds a collector from decoded options, for profiles (nil:
// the embedded ones). It shares no poll limit with anyone (Kind.New does).
func NewCollector(name string, o Options, profiles *ProfileSet, log *slog.Logger) (*Collector, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if profiles == nil {
		profiles = EmbeddedProfiles()
	}
	if err := o.SNMP.Validate(); err != nil {
		return nil, config.Within("snmp", err)
	}
	if len(o.Profiles) == 0 {
		o.Profiles = []string{"auto"}
	}
	for _, n := range o.Profiles {
		if n == "auto" {
			if len(o.Profiles) > 1 {
				return nil, config.Problem("profiles", "auto cannot be combined with profile names")
			}
			continue
		}
		if profiles.ByName(n) == nil {
			return nil, config.Problem("profiles", "unknown profile %q (known: %s)", n, strings.Join(profiles.Names(), ", "))
		}
	}
	// log names the target and kind already (collectors.Spec.Logger).
	return &Collector{name: name, agent: o.SNMP, names: o.Profiles, set: profiles,
		log: log, truncated: map[string]float64{}, guard: newGuard(name, log, nil), rows: tableRows{}, views: newViewPool()}, nil
}

// Collect polls the agent once.
func (k *Collector) Collect(ctx context.Context, emit func(model.Sample)) error {
	_, err := k.Poll(ctx, emit)
	return err
}

// Poll is Collect that also says which profiles were used.
func (k *Collector) Poll(ctx context.Context, emit func(model.Sample)) ([]*Profile, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.slots != nil {
		select {
		case k.slots <- struct{}{}:
			defer func() { <-k.slots }()
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if k.c == nil {
		c, err := dial(&k.agent)
		if err != nil {
			return nil, err
		}
		k.c = c
		c.interns = &k.interns
	}
	if k.agent.Version != "3" {
		// v1/v2c sessions cost nothing to reopen, while each open one keeps
		// gosnmp's 64 KiB receive buffer: 1,000 idle targets would hold
		// 64 MB. v3 keeps its session (engine discovery is a round trip).
		defer func() {
			if k.c != nil {
				k.c.close()
				k.c = nil
			}
		}()
	}
	profiles, err := k.profiles(ctx)
	if err != nil {
		k.reset()
		return nil, err
	}
	if len(profiles) == 0 {
		return nil, fmt.Errorf("snmp %s: no profile matches this device (sysObjectID %q); name one in profiles: or add one in profile_dirs", k.agent.Address, k.sysOID)
	}
	pl := newPlan(profiles)
	if len(k.rows) > len(pl.tables) { // tables of profiles no longer used
		clear(k.rows)
	}
	req0, got0 := k.c.requests, k.c.received
	v, err := fetch(ctx, k.c, pl, k.rows, k.views.Get().(*view))
	defer v.release(k.views) // after evaluate: the samples emitted own nothing of it
	k.wire = WireCount{Requests: k.c.requests - req0, Fetched: k.c.received - got0, Used: v.used}
	for _, root := range v.truncated {
		if k.truncated[root] == 0 {
			k.log.Warn("snmp walk stopped at max_walk_varbinds (objects, or KiB of names and values): the agent returns more than a table should have (a looping agent?); the rest is ignored",
				"walk", root, "max_walk_varbinds", k.agent.MaxWalkVarbinds)
		}
		k.truncated[root]++
	}
	if err != nil && len(v.vals) == 0 {
		k.reset()
		return profiles, err
	}
	for _, p := range profiles {
		emit(model.Sample{Name: "snmp_profile_matched", Labels: model.L("profile", p.Name), Value: 1})
	}
	for root, n := range k.truncated {
		emit(model.Sample{Name: "vedetta_snmp_walk_truncated_total", Labels: model.L("walk", root), Value: n})
	}
	evaluate(profiles, v, k.guard, emit)
	if err != nil {
		k.detectedAt = time.Time{} // re-detect next time
	}
	return profiles, err
}

// Implausible returns how many values of metric were not exported for
// reason (ReasonSentinel, ReasonOutOfRange, ReasonAmbiguous) since the
// collector was made.
func (k *Collector) Implausible(metric, reason string) float64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.guard.counts[[2]string{metric, reason}]
}

// Explain makes every later poll tell fn each plausibility decision (the
// metric, its row, raw -> normalized, scale, range, verdict: vedetta probe
// snmp). nil stops it.
func (k *Collector) Explain(fn func(Explained)) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.guard.explain = fn
}

// String renders a decision on one line:
// "ups_input_voltage_volts[1.0] raw 2363 -> 236.3 (scale 0.1, autoscale x0.1 chosen; range [80, 700] or 0): exported".
func (e Explained) String() string {
	var b strings.Builder
	b.WriteString(e.Metric)
	if e.Row != "" {
		b.WriteString("[" + e.Row + "]")
	}
	switch {
	case e.Unmapped:
		fmt.Fprintf(&b, " raw %q: in no map entry: no sample", e.Read)
		return b.String()
	case e.RawText != "":
		fmt.Fprintf(&b, " raw %q", e.RawText)
	case e.Read != "":
		fmt.Fprintf(&b, " raw %q -> %s (map/bit/mask; scale %s", e.Read, FormatValue(e.Value), FormatValue(e.Scale))
	default:
		b.WriteString(" raw " + FormatValue(e.Raw) + " -> " + FormatValue(e.Value))
	}
	if e.Read == "" || e.RawText != "" {
		b.WriteString(" (scale " + FormatValue(e.Scale))
	}
	if e.Factor != 1 || e.Chosen {
		b.WriteString(", autoscale x" + FormatValue(e.Factor))
		if e.Chosen {
			b.WriteString(" chosen")
		}
	}
	if e.Range != "" {
		b.WriteString("; range " + e.Range)
	}
	b.WriteString("): ")
	if e.Reason == "" {
		b.WriteString("exported")
	} else {
		b.WriteString("dropped, " + e.Reason)
	}
	return b.String()
}

// reset drops the session and the detection after a failure, so the next
// round starts clean (new socket, new v3 engine discovery).
func (k *Collector) reset() {
	k.c.close()
	k.c = nil
	k.detectedAt = time.Time{}
}

func (k *Collector) profiles(ctx context.Context) ([]*Profile, error) {
	if k.names[0] != "auto" {
		var ps []*Profile
		for _, n := range k.names {
			p := k.set.ByName(n)
			if p == nil {
				return nil, fmt.Errorf("profile %q is not loaded", n)
			}
			ps = append(ps, p)
		}
		return ps, nil
	}
	if !k.detectedAt.IsZero() && time.Since(k.detectedAt) < redetectEvery {
		return k.detected, nil
	}
	sysOID, ps, err := detect(ctx, k.c, k.set.All())
	if err != nil {
		return nil, err
	}
	if sysOID != k.sysOID || !sameProfiles(ps, k.detected) {
		k.log.Info("snmp profiles detected", "sysObjectID", sysOID, "profiles", names(ps))
		if len(k.guard.chosen) > 0 {
			// Another device (a card replaced) at the same address: its
			// scales are its own.
			k.log.Info("snmp autoscale choices forgotten: the device changed", "forgotten", len(k.guard.chosen))
			clear(k.guard.chosen)
		}
	}
	k.sysOID, k.detected, k.detectedAt = sysOID, ps, time.Now()
	return ps, nil
}

func names(ps []*Profile) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Name
	}
	return out
}

func sameProfiles(a, b []*Profile) bool {
	return strings.Join(names(a), ",") == strings.Join(names(b), ",")
}

// detect reads sysObjectID and probes every profile's subtrees with
// GETNEXT; it returns the matching profiles, sorted by name.
func detect(ctx context.Context, c *client, all []*Profile) (string, []*Profile, error) {
	pdus, err := c.get(ctx, []string{oidSysObjectID})
	if err != nil {
		return "", nil, err
	}
	sysOID := ""
	if len(pdus) == 1 {
		sysOID = text(pdus[0])
	}
	set := map[string]bool{}
	var subtrees []string
	for _, p := range all {
		for _, s := range p.Match.Subtrees {
			if !set[s] {
				set[s] = true
				subtrees = append(subtrees, s)
			}
		}
	}
	sort.Strings(subtrees)
	nexts, err := c.getNext(ctx, subtrees)
	if err != nil {
		return sysOID, nil, err
	}
	answered := func(subtree string) bool {
		for _, n := range nexts {
			if present(n) && strings.HasPrefix(trimOID(n.Name), subtree+".") {
				return true
			}
		}
		return false
	}
	return sysOID, matchProfiles(all, sysOID, answered), nil
}

func matchProfiles(all []*Profile, sysOID string, answered func(string) bool) []*Profile {
	var ps []*Profile
	for _, p := range all {
		ok := false
		for _, s := range p.Match.SysObjectID {
			if sysOID == s || strings.HasPrefix(sysOID, s+".") {
				ok = true
			}
		}
		for _, s := range p.Match.Subtrees {
			if !ok && answered(s) {
				ok = true
			}
		}
		if ok {
			ps = append(ps, p)
		}
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].Name < ps[j].Name })
	return ps
}
