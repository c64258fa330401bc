package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/internal/testpeer"
)

// TestMain lets a test re-run this binary as the real program
// (VEDETTA_SIM_MAIN=1), to test flags, output and signals end to end.
func TestMain(m *testing.M) {
	if os.Getenv("VEDETTA_SIM_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	os.Exit(m.Run())
}

// startSim runs the simulator in-process with args (plus --listen and a
// free --base-port range) until the test ends.
func startSim(t testing.TB, args ...string) *sim {
	t.Helper()
	for attempt := 0; attempt < 20; attempt++ {
		base := 10000 + rand.IntN(20000) // below the ephemeral range
		full := append([]string{"--listen", "127.0.0.1", "--base-port", strconv.Itoa(base), "--quiet"}, args...)
		c, err := parseFlags(full, io.Discard)
		if err != nil {
			t.Fatalf("flags %v: %v", full, err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		ready := make(chan *sim, 1)
		done := make(chan error, 1)
		go func() { done <- run(ctx, c, io.Discard, func(s *sim) { ready <- s }) }()
		select {
		case s := <-ready:
			t.Cleanup(func() {
				cancel()
				select {
				case err := <-done:
					if err != nil {
						t.Errorf("run: %v", err)
					}
				case <-time.After(5 * time.Second):
					t.Errorf("simulator did not stop within 5 s")
				}
			})
			return s
		case err := <-done:
			cancel()
			if strings.Contains(err.Error(), "address already in use") {
				continue
			}
			t.Fatalf("run: %v", err)
		}
	}
	t.Fatal("no free port range found")
	return nil
}

// addr is the agent's host:port.
func (a *agent) addr() string { return testpeer.Addr(a.port) }

// recordingPath is a shared recording, read in place.
func recordingPath(t testing.TB, name string) string {
	t.Helper()
	return filepath.Join(testpeer.SharedTestdata(t, "snmprec"), name+".snmprec")
}

// expected is what a recording says, rendered like net-snmp prints it with
// -On -Ox -Ot: oids in walk order and oid → "TYPE: value". skipped counts
// the lines whose value its type cannot carry (an IpAddress that is not
// four bytes, a number out of range): no agent can send them, so they are
// not expected in a walk.
type expected struct {
	oids    []string
	values  map[string]string
	tags    map[string]string
	skipped int
}

// lineSpace is what snmpsimd strips from both ends of a line (Python's
// str.strip(), ASCII part): "UPS 09.8 " is served as "UPS 09.8".
const lineSpace = " \t\n\v\f\r\x1c\x1d\x1e\x1f"

// readExpected parses a recording independently of the simulator's parser,
// the way snmpsimd reads it. Numbers are compared as numbers: a recorded
// Integer "00000" is the value 0, which net-snmp prints as "INTEGER: 0".
func readExpected(t testing.TB, path string) expected {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ex := expected{values: map[string]string{}, tags: map[string]string{}}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<22)
	for sc.Scan() {
		parts := strings.SplitN(strings.Trim(sc.Text(), lineSpace), "|", 3)
		if len(parts) != 3 {
			continue
		}
		oid, tag, val := "."+parts[0], parts[1], parts[2]
		if strings.Contains(tag, ":") {
			t.Fatalf("%s: variation line %q: extend the test", path, sc.Text())
		}
		raw := []byte(val)
		if strings.HasSuffix(tag, "x") {
			if raw, err = hex.DecodeString(val); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
		}
		// number renders a numeric value as decoded; ok is false when
		// the type cannot carry it.
		number := func(prefix string, signed bool, bits int) (string, bool) {
			v := strings.TrimSpace(val)
			if signed {
				n, err := strconv.ParseInt(v, 10, bits)
				return prefix + strconv.FormatInt(n, 10), err == nil
			}
			n, err := strconv.ParseUint(v, 10, bits)
			return prefix + strconv.FormatUint(n, 10), err == nil
		}
		var r string
		ok := true
		switch strings.TrimSuffix(tag, "x") {
		case "2":
			r, ok = number("INTEGER: ", true, 32)
		case "4":
			if len(raw) == 0 {
				r = `""`
			} else {
				r = "Hex-STRING: " + strings.ToUpper(strings.TrimSpace(fmt.Sprintf("% x", raw)))
			}
		case "5":
			r = "NULL"
		case "6":
			r = "OID: ." + strings.TrimPrefix(val, ".")
		case "64":
			var a netip.Addr
			if tag == "64x" {
				a, ok = netip.AddrFromSlice(raw)
			} else {
				a, err = netip.ParseAddr(strings.TrimSpace(val))
				ok = err == nil
			}
			ok = ok && a.Is4()
			r = "IpAddress: " + a.String()
		case "65":
			r, ok = number("Counter32: ", false, 32)
		case "66":
			r, ok = number("Gauge32: ", false, 32)
		case "67":
			r, ok = number("", false, 32)
		case "70":
			r, ok = number("Counter64: ", false, 64)
		default:
			t.Fatalf("%s: tag %q: extend the test", path, tag)
		}
		if !ok {
			ex.skipped++
			continue
		}
		if _, dup := ex.values[oid]; !dup {
			ex.oids = append(ex.oids, oid)
		}
		ex.values[oid], ex.tags[oid] = r, tag // last line wins
	}
	sort.Slice(ex.oids, func(i, j int) bool { return lessDotted(ex.oids[i], ex.oids[j]) })
	return ex
}

func lessDotted(a, b string) bool {
	as, bs := strings.Split(strings.TrimPrefix(a, "."), "."), strings.Split(strings.TrimPrefix(b, "."), ".")
	for i := 0; i < len(as) && i < len(bs); i++ {
		x, _ := strconv.ParseUint(as[i], 10, 64)
		y, _ := strconv.ParseUint(bs[i], 10, 64)
		if x != y {
			return x < y
		}
	}
	return len(as) < len(bs)
}

type walked struct{ oid, value string }

// parseWalk splits net-snmp output (-On) into varbinds; hex strings wrap
// over several lines, which are joined.
func parseWalk(out string) []walked {
	var vbs []walked
	for _, line := range strings.Split(out, "\n") {
		if oid, val, ok := strings.Cut(line, " = "); ok && strings.HasPrefix(oid, ".") {
			vbs = append(vbs, walked{oid, strings.TrimSpace(val)})
			continue
		}
		if len(vbs) > 0 && strings.TrimSpace(line) != "" && line != "End of MIB" {
			vbs[len(vbs)-1].value += " " + strings.TrimSpace(line)
		}
	}
	return vbs
}

// netsnmp runs a net-snmp client tool without MIBs and returns its output.
func netsnmp(t testing.TB, tool string, args ...string) (string, error) {
	t.Helper()
	bin := testpeer.Need(t, tool, "/usr/bin/"+tool)
	cmd := exec.Command(bin, append([]string{"-m", "", "-On"}, args...)...)
	cmd.Env = append(os.Environ(), "MIBS=", "MIBDIRS=/nonexistent")
	out, err := cmd.CombinedOutput()
	return string(out), err
}
