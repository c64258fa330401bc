package main

// Profiles by component: a CPU or heap profile of the daemon, taken
// through its /debug/pprof endpoints, with every sample charged to the
// part of vedetta it was spent in. This is what a missed goal shows: where
// the remaining cost is.

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/pprof/profile"
)

const modulePath = "github.com/vedetta-dc/vedetta"

// Component names, in the order the tables list them.
const (
	compSnmpwire   = "internal/snmpwire (decode)"
	compGosnmp     = "gosnmp (request encode, sessions)"
	compSNMP       = "collectors/snmp (normalize, profiles)"
	compCollectors = "collectors (scheduler)"
	compRules      = "rules (engine, series store)"
	compNotify     = "dispatch/notify"
	compHTTPAPI    = "internal/httpapi (/metrics)"
	compNet        = "net/syscall (sockets)"
	compGC         = "runtime GC"
	compRuntime    = "other runtime"
	compOther      = "other"
)

var componentOrder = []string{compSnmpwire, compGosnmp, compSNMP, compCollectors, compRules, compNotify, compHTTPAPI, compNet, compGC, compRuntime, compOther}

// packageComponents maps a package (and its subpackages) to a component;
// the first match wins, so collectors/snmp comes before collectors.
var packageComponents = []struct{ pkg, comp string }{
	{modulePath + "/internal/snmpwire", compSnmpwire},
	{"github.com/gosnmp/gosnmp", compGosnmp},
	{modulePath + "/collectors/snmp", compSNMP},
	{modulePath + "/collectors", compCollectors},
	{modulePath + "/rules", compRules},
	{modulePath + "/dispatch", compNotify},
	{modulePath + "/notify", compNotify},
	{modulePath + "/internal/httpapi", compHTTPAPI},
	// /metrics is encoded by the Prometheus client under promhttp's
	// handler, with no frame of httpapi on the stack.
	{"github.com/prometheus/client_golang", compHTTPAPI},
	{"github.com/prometheus/client_model", compHTTPAPI},
	{"github.com/prometheus/common", compHTTPAPI},
	{"net", compNet}, // not net/http: that is a package of its own below
	{"syscall", compNet},
	{"internal/poll", compNet},
	{"internal/syscall/unix", compNet},
	{"golang.org/x/sys/unix", compNet},
}

// gcFuncs are the runtime's allocation and collection work (prefixes of
// function names). Allocation is charged here, not to its caller: "GC"
// then reads as "what garbage costs", which is what allocation-free code
// removes; the top functions column says which.
var gcFuncs = []string{
	"runtime.gc", "runtime.mallocgc", "runtime.scanobject", "runtime.scanblock", "runtime.scanstack", "runtime.scanframe",
	"runtime.greyobject", "runtime.findObject", "runtime.markroot", "runtime.markBits", "runtime.bgsweep", "runtime.sweepone",
	"runtime.bgscavenge", "runtime.(*gcWork)", "runtime.(*gcControllerState)", "runtime.(*mspan).sweep", "runtime.(*sweepLocked)",
	"runtime.wbBuf", "runtime.bulkBarrier", "runtime.(*mheap)", "runtime.(*mcache)", "runtime.(*mcentral)", "runtime.heapSetType",
	"runtime.typePointers", "runtime.(*scavengerState)",
}

// packageOf is the import path of a function's package:
// "net/http.(*conn).serve" → "net/http", "runtime.mallocgc" → "runtime".
func packageOf(fn string) string {
	slash := strings.LastIndexByte(fn, '/')
	if dot := strings.IndexByte(fn[slash+1:], '.'); dot >= 0 {
		return fn[:slash+1+dot]
	}
	return fn
}

// componentOf is the named component a function belongs to, or "".
func componentOf(fn string) string {
	for _, g := range gcFuncs {
		if strings.HasPrefix(fn, g) {
			return compGC
		}
	}
	pkg := packageOf(fn)
	for _, pc := range packageComponents {
		if pkg == pc.pkg || strings.HasPrefix(pkg, pc.pkg+"/") && pc.pkg != "net" {
			return pc.comp
		}
	}
	return ""
}

// frames is a sample's stack from the leaf up, inlined calls included
// (a location's first line is its innermost function).
func frames(s *profile.Sample) []string {
	var out []string
	for _, loc := range s.Location {
		for _, l := range loc.Line {
			if l.Function != nil {
				out = append(out, l.Function.Name)
			}
		}
	}
	return out
}

// attributeStack walks a stack from the leaf up to the first frame in a
// named component; a stack with none is "other runtime" when its leaf is
// the runtime's (the scheduler, timers), "other" otherwise.
func attributeStack(stack []string) string {
	for _, fn := range stack {
		if c := componentOf(fn); c != "" {
			return c
		}
	}
	if len(stack) > 0 {
		if pkg := packageOf(stack[0]); pkg == "runtime" || strings.HasPrefix(pkg, "runtime/") || strings.HasPrefix(pkg, "internal/runtime/") {
			return compRuntime
		}
	}
	return compOther
}

// componentRow is one line of a table: a component's cost and the leaf
// functions it is mostly spent in.
type componentRow struct {
	name  string
	value float64 // in the table's unit
	share float64 // percent of the total
	top   []funcCost
}

type funcCost struct {
	name  string
	value float64
}

// componentTable is a profile charged to components.
type componentTable struct {
	unit    string // "CPU s" or "MB"
	total   float64
	samples int
	span    string // what the profile covers, for the report's sentence
	rows    []componentRow
	file    string // where the profile was kept (--keep), or ""
}

// attribute charges every sample of p's sampleType to a component; scale
// turns the sample values into the table's unit.
func attribute(p *profile.Profile, sampleType, unit string, scale float64) (*componentTable, error) {
	idx := slices.IndexFunc(p.SampleType, func(v *profile.ValueType) bool { return v.Type == sampleType })
	if idx < 0 {
		var have []string
		for _, v := range p.SampleType {
			have = append(have, v.Type)
		}
		return nil, fmt.Errorf("profile has no %q samples (it has %s)", sampleType, strings.Join(have, ", "))
	}
	byComp := map[string]float64{}
	flat := map[string]map[string]float64{}
	t := &componentTable{unit: unit}
	for _, s := range p.Sample {
		v := float64(s.Value[idx]) * scale
		if v == 0 {
			continue
		}
		st := frames(s)
		c := attributeStack(st)
		byComp[c] += v
		t.total += v
		t.samples++
		if flat[c] == nil {
			flat[c] = map[string]float64{}
		}
		leaf := "?"
		if len(st) > 0 {
			leaf = st[0]
		}
		flat[c][leaf] += v
	}
	for _, c := range componentOrder {
		v, ok := byComp[c]
		if !ok {
			continue
		}
		row := componentRow{name: c, value: v}
		if t.total > 0 {
			row.share = 100 * v / t.total
		}
		for fn, fv := range flat[c] {
			row.top = append(row.top, funcCost{shortFunc(fn), fv})
		}
		slices.SortFunc(row.top, func(a, b funcCost) int { return cmp.Or(cmp.Compare(b.value, a.value), strings.Compare(a.name, b.name)) })
		row.top = row.top[:min(3, len(row.top))]
		t.rows = append(t.rows, row)
	}
	return t, nil
}

// shortFunc drops the module's path from a function name.
func shortFunc(fn string) string {
	fn = strings.TrimPrefix(fn, modulePath+"/")
	return strings.TrimPrefix(fn, "github.com/")
}

// markdown is the table: component, cost, share, top 3 leaf functions.
func (t *componentTable) markdown() string {
	var b strings.Builder
	if len(t.rows) == 0 {
		// A daemon nearly idle over a short profile (the smoke's) leaves
		// no sample at 100 Hz: say so rather than print an empty table.
		return fmt.Sprintf("No samples in the profile (%s): too little %s to be seen.\n", t.span, t.unit)
	}
	prec := "%.2f"
	if t.unit == "MB" {
		prec = "%.1f"
	}
	fmt.Fprintf(&b, "| component | %s | share | top 3 functions (flat) |\n|---|---:|---:|---|\n", t.unit)
	for _, r := range t.rows {
		var top []string
		for _, f := range r.top {
			top = append(top, fmt.Sprintf("`%s` "+prec, f.name, f.value))
		}
		fmt.Fprintf(&b, "| %s | "+prec+" | %.1f %% | %s |\n", r.name, r.value, r.share, strings.Join(top, ", "))
	}
	fmt.Fprintf(&b, "\nTotal "+prec+" %s over %d stacks; each stack is charged, from its leaf up, to the first frame in a named component.", t.total, t.unit, t.samples)
	if t.file != "" {
		fmt.Fprintf(&b, " Profile kept in `%s`.", t.file)
	}
	b.WriteString("\n")
	return b.String()
}

// fetchProfile GETs a /debug/pprof path of the daemon with its API token
// and parses it; with --keep the raw profile is written to the work folder
// as name.pb.gz.
func fetchProfile(ctx context.Context, o *options, d *daemon, path, name string, wait time.Duration) (*profile.Profile, string, error) {
	cctx, cancel := context.WithTimeout(ctx, wait+time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(cctx, http.MethodGet, d.http+path, nil)
	if err != nil {
		return nil, "", err
	}
	req.Header.Set("Authorization", "Bearer "+d.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, "", err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("GET %s: HTTP %d: %s", path, resp.StatusCode, tail(string(body), 300))
	}
	p, err := profile.Parse(bytes.NewReader(body))
	if err != nil {
		return nil, "", fmt.Errorf("GET %s: %w", path, err)
	}
	file := ""
	if o.keep {
		file = filepath.Join(o.work, name+".pb.gz")
		if err := os.WriteFile(file, body, 0o644); err != nil {
			slog.Warn("profile not kept", "file", file, "err", err)
			file = ""
		}
	}
	return p, file, nil
}

// profileSeconds is how long a CPU profile runs within one interval: most
// of it, and under the API's 60 s write timeout (a longer profile is
// refused).
func profileSeconds(iv time.Duration) int {
	return max(1, min(int((iv*9/10).Seconds()), 55))
}

// cpuProfile takes a CPU profile of the daemon over the next sec seconds
// and charges it to components.
func cpuProfile(ctx context.Context, o *options, d *daemon, sec int, name string) (*componentTable, error) {
	p, file, err := fetchProfile(ctx, o, d, fmt.Sprintf("/debug/pprof/profile?seconds=%d", sec), name, time.Duration(sec)*time.Second)
	if err != nil {
		return nil, err
	}
	t, err := attribute(p, "cpu", "CPU s", 1e-9)
	if err != nil {
		return nil, err
	}
	t.span, t.file = fmt.Sprintf("%d s", sec), file
	return t, nil
}

// heapProfile takes the daemon's heap profile (inuse_space) and charges
// it to components.
func heapProfile(ctx context.Context, o *options, d *daemon, name string) (*componentTable, error) {
	p, file, err := fetchProfile(ctx, o, d, "/debug/pprof/heap", name, 0)
	if err != nil {
		return nil, err
	}
	t, err := attribute(p, "inuse_space", "MB", 1.0/(1<<20))
	if err != nil {
		return nil, err
	}
	t.span, t.file = "in use at the last GC", file
	return t, nil
}
