package store

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBoltTransactions(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenBolt(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Update(func(tx Tx) error { return tx.Put(Alarms, "a", []byte("1")) }); err != nil {
		t.Fatal(err)
	}
	// A failing transaction keeps nothing of what it wrote.
	boom := errors.New("boom")
	err = s.Update(func(tx Tx) error {
		_ = tx.Put(Alarms, "b", []byte("2"))
		_ = tx.Put(Outbox, "o", []byte("x"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err %v", err)
	}
	// A second daemon on the same state dir gets a clear error.
	if _, err := OpenBolt(dir); err == nil || !strings.Contains(err.Error(), "another vedetta") {
		t.Fatalf("second open: %v", err)
	}
	s.Close()

	s, err = OpenBolt(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var keys []string
	_ = s.View(func(tx Tx) error {
		if string(tx.Get(Alarms, "a")) != "1" || tx.Get(Alarms, "b") != nil || tx.Get(Outbox, "o") != nil {
			t.Error("state after reopen is wrong")
		}
		return tx.ForEach(Alarms, func(k string, _ []byte) error { keys = append(keys, k); return nil })
	})
	if len(keys) != 1 {
		t.Errorf("keys %v", keys)
	}
	if err := s.Update(func(tx Tx) error { return tx.Put("nope", "k", nil) }); err == nil {
		t.Error("write to an unknown bucket accepted")
	}
}

func fill(t *testing.T, dir string, n int) {
	t.Helper()
	s, err := OpenBolt(dir)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Update(func(tx Tx) error {
		for i := 0; i < n; i++ {
			if err := tx.Put(Alarms, fmt.Sprintf("a%05d", i), []byte(strings.Repeat("x", 300))); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
}

// Issue 9, finding 5: a state file that cannot be trusted is moved aside
// and the store starts empty, saying so: never a crash loop (bbolt
// panicked on garbage pages at every start), never silently empty (a
// zero-length file was taken for a first start).
func TestUnreadableStateFileIsMovedAside(t *testing.T) {
	cases := []struct {
		name  string
		spoil func(t *testing.T, path string)
		want  string
	}{
		{"zero length", func(t *testing.T, path string) {
			if err := os.Truncate(path, 0); err != nil {
				t.Fatal(err)
			}
		}, "empty"},
		{"garbage in the data pages", func(t *testing.T, path string) {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(1, 2))
			for i := 4 * 4096; i < len(b); i++ { // the meta pages stay valid
				b[i] = byte(rng.Uint32())
			}
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}, ""},
		{"not a bbolt file", func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte(strings.Repeat("not a database\n", 1000)), 0o600); err != nil {
				t.Fatal(err)
			}
		}, "cannot open"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			fill(t, dir, 500)
			path := filepath.Join(dir, FileName)
			c.spoil(t, path)
			before, _ := os.ReadFile(path)
			s, err := OpenBolt(dir)
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			defer s.Close()
			l := s.Loss()
			if l == nil || !strings.Contains(l.Reason, c.want) {
				t.Fatalf("loss %+v, want a reason with %q", l, c.want)
			}
			kept, err := os.ReadFile(l.MovedTo)
			if err != nil || string(kept) != string(before) {
				t.Fatalf("the unreadable file is not kept as it was at %s: %v", l.MovedTo, err)
			}
			n := 0
			if err := s.View(func(tx Tx) error {
				return tx.ForEach(Alarms, func(string, []byte) error { n++; return nil })
			}); err != nil || n != 0 {
				t.Fatalf("the new store has %d alarms (%v)", n, err)
			}
			if err := s.Update(func(tx Tx) error { return tx.Put(Alarms, "a", []byte("1")) }); err != nil {
				t.Fatalf("the new store does not take writes: %v", err)
			}
		})
	}
	// A good file is no loss.
	dir := t.TempDir()
	fill(t, dir, 10)
	s, err := OpenBolt(dir)
	if err != nil || s.Loss() != nil {
		t.Fatalf("a good file: %v %+v", err, s.Loss())
	}
	s.Close()
}

// A panic inside a transaction (bbolt reading a damaged page, or a bug)
// is an error for the caller, and the transaction is rolled back.
func TestPanicInTransactionIsAnError(t *testing.T) {
	s, err := OpenBolt(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.Update(func(tx Tx) error {
		_ = tx.Put(Alarms, "half", []byte("written"))
		panic("page 7: invalid page type")
	})
	if err == nil || !strings.Contains(err.Error(), "invalid page type") {
		t.Fatalf("err %v", err)
	}
	_ = s.View(func(tx Tx) error {
		if tx.Get(Alarms, "half") != nil {
			t.Error("a panicking transaction was committed")
		}
		return nil
	})
	if err := s.View(func(Tx) error { panic("boom") }); err == nil {
		t.Error("a panic in View is not an error")
	}
}

// OnCommit runs only for committed transactions.
func TestOnCommit(t *testing.T) {
	s, err := OpenBolt(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ran := 0
	_ = s.Update(func(tx Tx) error { tx.OnCommit(func() { ran++ }); return nil })
	_ = s.Update(func(tx Tx) error { tx.OnCommit(func() { ran += 10 }); return errors.New("no") })
	if ran != 1 {
		t.Fatalf("ran %d", ran)
	}
}

// Compact gives back the space a storm left free (bbolt never does).
func TestCompactGivesSpaceBack(t *testing.T) {
	dir := t.TempDir()
	fill(t, dir, 20000)
	s, err := OpenBolt(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.Update(func(tx Tx) error {
		for i := 100; i < 20000; i++ {
			if err := tx.Delete(Alarms, fmt.Sprintf("a%05d", i)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	before := s.Stats()
	if before.FreeBytes < before.FileBytes/2 {
		t.Fatalf("after deleting 99%%: %+v", before)
	}
	if err := s.Compact(); err != nil {
		t.Fatal(err)
	}
	after := s.Stats()
	if after.FileBytes*4 > before.FileBytes {
		t.Fatalf("compaction: %d -> %d bytes", before.FileBytes, after.FileBytes)
	}
	n := 0
	_ = s.View(func(tx Tx) error { return tx.ForEach(Alarms, func(string, []byte) error { n++; return nil }) })
	if n != 100 {
		t.Fatalf("%d alarms after compaction, want 100", n)
	}
	if err := s.Update(func(tx Tx) error { return tx.Put(Alarms, "new", []byte("1")) }); err != nil {
		t.Fatal(err)
	}
	t.Logf("state file %d -> %d bytes", before.FileBytes, after.FileBytes)
}

// FuzzOpenStateFile: whatever bytes the state file holds, opening it
// gives a usable store (the file moved aside if it cannot be trusted) or
// an error, never a panic.
func FuzzOpenStateFile(f *testing.F) {
	dir := f.TempDir()
	fill(&testing.T{}, dir, 3)
	good, _ := os.ReadFile(filepath.Join(dir, FileName))
	f.Add(good)
	f.Add([]byte{})
	f.Add(good[:4096])
	f.Fuzz(func(t *testing.T, b []byte) {
		d := t.TempDir()
		if err := os.WriteFile(filepath.Join(d, FileName), b, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := OpenBolt(d)
		if err != nil {
			return
		}
		defer s.Close()
		_ = s.View(func(tx Tx) error {
			for _, bk := range buckets {
				_ = tx.ForEach(bk, func(string, []byte) error { return nil })
			}
			return nil
		})
		if err := s.Update(func(tx Tx) error { return tx.Put(Meta, "k", []byte("v")) }); err != nil && s.Loss() != nil {
			t.Fatalf("a fresh store refuses writes: %v", err)
		}
	})
}
