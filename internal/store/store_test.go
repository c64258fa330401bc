package store

import (
	"errors"
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
