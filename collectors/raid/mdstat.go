package raid

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// Array is one md array as /proc/mdstat describes it.
type Array struct {
	Name     string // md0
	State    string // active | inactive
	ReadOnly string // "", read-only, auto-read-only
	Level    string // raid1, raid5, ... ("" for an inactive array)
	Devices  []Device
	// Disks and ActiveDisks come from "[n/m]"; both 0 when the line has none
	// (raid0, linear, inactive arrays).
	Disks, ActiveDisks int
	Status             string // "UU_" from "[UU_]"
	Sync               *Sync
	SyncPending        string // "resync" for "resync=DELAYED" or "resync=PENDING"
}

// Device is a member: sda1[0](F).
type Device struct {
	Name  string
	Index int
	Flags string // F failed, S spare, W write-mostly, R replacement, J journal
}

// Sync is a running resync, recovery, reshape, check or repair.
type Sync struct {
	Action       string
	Ratio        float64 // 0..1
	Done, Total  int64   // blocks
	FinishSecond float64
	SpeedBytes   float64 // per second
}

var (
	headerRe = regexp.MustCompile(`^(md[^\s:]*)\s*:\s*(.*)$`)
	deviceRe = regexp.MustCompile(`^([^\s\[]+)\[(\d+)\]((?:\([A-Za-z]\))*)$`)
	countRe  = regexp.MustCompile(`\[(\d+)/(\d+)\]`)
	statusRe = regexp.MustCompile(`\[([U_]+)\]`)
	syncRe   = regexp.MustCompile(`(resync|recovery|reshape|check|repair)\s*=\s*([0-9.]+)%\s*\((\d+)/(\d+)\)(?:\s*finish=([0-9.]+)min)?(?:\s*speed=(\d+)K/sec)?`)
	pendRe   = regexp.MustCompile(`(resync|recovery|reshape|check|repair)\s*=\s*(DELAYED|PENDING|REMOTE)`)
)

// Parse reads /proc/mdstat. It returns the arrays it understood and an
// error naming the first line it did not (the caller still uses the arrays
// it got, and says that the read was partial).
func Parse(r io.Reader) ([]Array, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	var arrays []Array
	var cur *Array
	var firstErr error
	sawPersonalities := false
	lineNo := 0
	fail := func(format string, args ...any) {
		if firstErr == nil {
			firstErr = fmt.Errorf("mdstat line %d: %s", lineNo, fmt.Sprintf(format, args...))
		}
	}
	flush := func() {
		if cur != nil {
			arrays = append(arrays, *cur)
			cur = nil
		}
	}
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "":
			continue
		case strings.HasPrefix(line, "Personalities"):
			sawPersonalities = true
			flush()
		case strings.HasPrefix(line, "unused devices"):
			flush()
		case line[0] != ' ' && line[0] != '\t':
			flush()
			m := headerRe.FindStringSubmatch(line)
			if m == nil {
				fail("not an array header: %q", clip(line))
				continue
			}
			a, err := parseHeader(m[1], m[2])
			if err != nil {
				fail("%s: %v", m[1], err)
				continue
			}
			cur = &a
		case cur == nil:
			fail("indented line outside any array: %q", clip(line))
		default:
			parseDetail(cur, trimmed, fail)
		}
	}
	flush()
	if err := sc.Err(); err != nil {
		return arrays, fmt.Errorf("mdstat: %w", err)
	}
	if !sawPersonalities && firstErr == nil {
		return arrays, fmt.Errorf("mdstat: no \"Personalities\" line: not a /proc/mdstat file")
	}
	return arrays, firstErr
}

func parseHeader(name, rest string) (Array, error) {
	a := Array{Name: name}
	f := strings.Fields(rest)
	if len(f) == 0 {
		return a, fmt.Errorf("no state")
	}
	a.State, f = f[0], f[1:]
	if a.State != "active" && a.State != "inactive" {
		return a, fmt.Errorf("unknown state %q", a.State)
	}
	if len(f) > 0 && strings.HasPrefix(f[0], "(") {
		a.ReadOnly = strings.Trim(f[0], "()")
		f = f[1:]
	}
	if a.State == "active" {
		if len(f) == 0 {
			return a, fmt.Errorf("active array without a level")
		}
		a.Level, f = f[0], f[1:]
	}
	for _, d := range f {
		m := deviceRe.FindStringSubmatch(d)
		if m == nil {
			return a, fmt.Errorf("bad member %q", clip(d))
		}
		idx, err := strconv.Atoi(m[2])
		if err != nil {
			return a, fmt.Errorf("bad member index %q", d)
		}
		a.Devices = append(a.Devices, Device{Name: m[1], Index: idx, Flags: strings.NewReplacer("(", "", ")", "").Replace(m[3])})
	}
	return a, nil
}

func parseDetail(a *Array, line string, fail func(string, ...any)) {
	if strings.Contains(line, " blocks") {
		if m := countRe.FindStringSubmatch(line); m != nil {
			n, err1 := strconv.Atoi(m[1])
			act, err2 := strconv.Atoi(m[2])
			if err1 != nil || err2 != nil || act > n {
				fail("%s: bad disk count %q", a.Name, m[0])
				return
			}
			a.Disks, a.ActiveDisks = n, act
		}
		if m := statusRe.FindStringSubmatch(line); m != nil {
			a.Status = m[1]
		}
		return
	}
	if m := syncRe.FindStringSubmatch(line); m != nil {
		pct, err := strconv.ParseFloat(m[2], 64)
		done, err1 := strconv.ParseInt(m[3], 10, 64)
		total, err2 := strconv.ParseInt(m[4], 10, 64)
		if err != nil || err1 != nil || err2 != nil || pct < 0 || pct > 100 {
			fail("%s: bad progress %q", a.Name, clip(line))
			return
		}
		s := &Sync{Action: m[1], Ratio: pct / 100, Done: done, Total: total}
		if m[5] != "" {
			mins, _ := strconv.ParseFloat(m[5], 64)
			s.FinishSecond = mins * 60
		}
		if m[6] != "" {
			k, _ := strconv.ParseFloat(m[6], 64)
			s.SpeedBytes = k * 1024
		}
		a.Sync = s
		return
	}
	if m := pendRe.FindStringSubmatch(line); m != nil {
		a.SyncPending = m[1]
		return
	}
	// bitmap:, chunk and other detail lines carry nothing we export.
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
