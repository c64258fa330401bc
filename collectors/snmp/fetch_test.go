package snmp

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/model"
)

// TestSecondPollSizedToTheTable polls every recording twice with one
// collector: the second poll sizes its GETBULKs to the row counts the first
// one read. It must emit exactly the golden samples (the same as a first
// poll), and fetch no more than one repetition per column beyond the
// table's longest column (the varbind that shows the column's end).
func TestSecondPollSizedToTheTable(t *testing.T) {
	addr, names := startSimd(t, "")
	var fetched, used int
	for _, name := range names {
		golden, err := os.ReadFile(filepath.Join("testdata", "golden", name+".prom"))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.HasPrefix(golden, []byte("# poll error:")) {
			continue // no profile: nothing is walked
		}
		t.Run(name, func(t *testing.T) {
			k, err := NewCollector("dev", Options{SNMP: Agent{Address: addr, Community: secret(name), Timeout: 3 * time.Second}}, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			first := k.pollProm(ctx, t)
			w1 := k.LastPoll()
			second := k.pollProm(ctx, t)
			w2 := k.LastPoll()
			if !bytes.Equal(second, golden) || !bytes.Equal(first, golden) {
				t.Errorf("second poll differs from %s:\n%s", name, diffLines(string(golden), string(second)))
			}
			pl := newPlan(k.detected)
			bound := len(pl.gets)
			for _, table := range pl.tables {
				bound += len(table) * (k.rows[table[0]] + 1)
			}
			if w2.Fetched > bound || w2.Used > w2.Fetched || w2.Used != w1.Used {
				t.Errorf("second poll fetched %d varbinds (%d used) in %d requests, want at most %d (%d gets + one past each column's end); first poll %+v",
					w2.Fetched, w2.Used, w2.Requests, bound, len(pl.gets), w1)
			}
			if w2.Fetched > w1.Fetched || w2.Requests > w1.Requests {
				t.Errorf("second poll %+v costs more than the first %+v", w2, w1)
			}
			fetched, used = fetched+w2.Fetched, used+w2.Used
			t.Logf("first poll %+v, second %+v", w1, w2)
		})
	}
	t.Logf("all recordings, second poll: %d varbinds fetched for %d used", fetched, used)
}

// pollProm polls once and renders the samples (the poll must succeed).
func (k *Collector) pollProm(ctx context.Context, t *testing.T) []byte {
	t.Helper()
	var samples []model.Sample
	if _, err := k.Poll(ctx, func(s model.Sample) { samples = append(samples, s) }); err != nil {
		t.Fatalf("poll: %v", err)
	}
	var b bytes.Buffer
	if err := WriteProm(&b, samples); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// A small agent cuts GETBULK answers anywhere (even mid-row) or answers
// tooBig to big requests: a multi-column walk must still read every row,
// in both the first poll and the sized second one.
func TestMultiColumnWalkOnSmallAgents(t *testing.T) {
	pdus := switchPDUs(48)
	want := func() []byte {
		r := newResponder(t, pdus)
		k, err := NewCollector("sw", Options{SNMP: Agent{Address: r.addr()}, Profiles: []string{"if-mib"}}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		return k.pollProm(context.Background(), t)
	}()
	if n := bytes.Count(want, []byte("\nif_in_bytes_total{")); n < 40 {
		t.Fatalf("reference poll has %d if_in_bytes_total samples:\n%s", n, want)
	}
	for _, tc := range []struct {
		name        string
		cut, tooBig int
	}{
		{"cut after 7 varbinds", 7, 0},
		{"cut after 1 varbind", 1, 0},
		{"tooBig over 20 varbinds", 0, 20},
		{"tooBig over 3 varbinds", 0, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newSmallResponder(t, pdus, tc.cut, tc.tooBig)
			k, err := NewCollector("sw", Options{SNMP: Agent{Address: r.addr(), Timeout: time.Second}, Profiles: []string{"if-mib"}}, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			for poll := 1; poll <= 2; poll++ {
				got := k.pollProm(context.Background(), t)
				if !bytes.Equal(got, want) {
					t.Fatalf("poll %d differs from the unlimited agent's:\n%s", poll, diffLines(string(want), string(got)))
				}
			}
		})
	}
}
