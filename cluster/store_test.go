package cluster

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/vedetta-dc/vedetta/internal/store"
)

// dump is a bucket's content as the store sees it.
func dump(t testing.TB, s store.Store, bucket string) map[string]string {
	t.Helper()
	got := map[string]string{}
	err := s.View(func(tx store.Tx) error {
		return tx.ForEach(bucket, func(k string, v []byte) error {
			got[k] = string(v)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func seed(t testing.TB, s store.Store, bucket string, kv map[string]string) {
	t.Helper()
	err := s.Update(func(tx store.Tx) error {
		for k, v := range kv {
			if err := tx.Put(bucket, k, []byte(v)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func wipe(t testing.TB, cli *clientv3.Client) {
	t.Helper()
	if _, err := cli.Delete(context.Background(), storeRoot, clientv3.WithPrefix()); err != nil {
		t.Fatal(err)
	}
}

var errBoom = errors.New("boom")

func TestStoreSemantics(t *testing.T) {
	e := single(t)
	s := NewStore(e.Client, 2*time.Second)
	start := map[string]string{"a": "1", "a/x": "2", "b": "3", "c": "4"}
	for _, tc := range []struct {
		name    string
		fn      func(t *testing.T, tx store.Tx) error
		wantErr error
		want    map[string]string // bucket "b" afterwards
	}{
		{
			name: "put then get, in the tx and after",
			fn: func(t *testing.T, tx store.Tx) error {
				if err := tx.Put("b", "new", []byte("v")); err != nil {
					return err
				}
				if got := string(tx.Get("b", "new")); got != "v" {
					t.Errorf("own write: %q", got)
				}
				if got := string(tx.Get("b", "a")); got != "1" {
					t.Errorf("existing: %q", got)
				}
				return nil
			},
			want: map[string]string{"a": "1", "a/x": "2", "b": "3", "c": "4", "new": "v"},
		},
		{
			name: "delete hides the key at once",
			fn: func(t *testing.T, tx store.Tx) error {
				if tx.Get("b", "b") == nil {
					t.Error("b missing before delete")
				}
				if err := tx.Delete("b", "b"); err != nil {
					return err
				}
				if got := tx.Get("b", "b"); got != nil {
					t.Errorf("deleted key reads %q", got)
				}
				return tx.Delete("b", "never-was")
			},
			want: map[string]string{"a": "1", "a/x": "2", "c": "4"},
		},
		{
			name: "foreach: key order, own writes merged",
			fn: func(t *testing.T, tx store.Tx) error {
				_ = tx.Put("b", "bb", []byte("5"))
				_ = tx.Put("b", "a", []byte("1'"))
				_ = tx.Delete("b", "c")
				_ = tx.Put("b", "0", []byte("0"))
				_ = tx.Put("other", "aa", []byte("x"))
				var keys, vals []string
				err := tx.ForEach("b", func(k string, v []byte) error {
					keys = append(keys, k)
					vals = append(vals, string(v))
					return nil
				})
				if want := []string{"0", "a", "a/x", "b", "bb"}; !slices.Equal(keys, want) {
					t.Errorf("keys %q, want %q", keys, want)
				}
				if want := []string{"0", "1'", "2", "3", "5"}; !slices.Equal(vals, want) {
					t.Errorf("values %q, want %q", vals, want)
				}
				// After ForEach the bucket is known whole: a key not in
				// it reads as missing without asking etcd.
				if got := tx.Get("b", "zz"); got != nil {
					t.Errorf("zz: %q", got)
				}
				return err
			},
			want: map[string]string{"0": "0", "a": "1'", "a/x": "2", "b": "3", "bb": "5"},
		},
		{
			name: "foreach stops at fn's error",
			fn: func(t *testing.T, tx store.Tx) error {
				n := 0
				err := tx.ForEach("b", func(string, []byte) error {
					n++
					return errBoom
				})
				if n != 1 {
					t.Errorf("fn called %d times", n)
				}
				return err
			},
			wantErr: errBoom,
			want:    start,
		},
		{
			name: "error in fn rolls everything back",
			fn: func(t *testing.T, tx store.Tx) error {
				_ = tx.Put("b", "a", []byte("changed"))
				_ = tx.Delete("b", "b")
				_ = tx.Put("b", "z", []byte("new"))
				return errBoom
			},
			wantErr: errBoom,
			want:    start,
		},
		{
			name: "empty value is not a missing key",
			fn: func(t *testing.T, tx store.Tx) error {
				_ = tx.Put("b", "empty", nil)
				if got := tx.Get("b", "empty"); got == nil || len(got) != 0 {
					t.Errorf("empty value reads %v", got)
				}
				return nil
			},
			want: map[string]string{"a": "1", "a/x": "2", "b": "3", "c": "4", "empty": ""},
		},
		{
			name: "the value is copied at Put",
			fn: func(t *testing.T, tx store.Tx) error {
				buf := []byte("first")
				_ = tx.Put("b", "c", buf)
				copy(buf, "XXXXX")
				return nil
			},
			want: map[string]string{"a": "1", "a/x": "2", "b": "3", "c": "first"},
		},
		{
			name: "a bad bucket name fails the tx",
			fn: func(t *testing.T, tx store.Tx) error {
				_ = tx.Put("b", "z", []byte("1"))
				if err := tx.Put("b/c", "k", nil); err == nil {
					t.Error("put in bucket b/c accepted")
				}
				tx.Get("", "k")
				return nil
			},
			wantErr: errAny,
			want:    start,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wipe(t, e.Client)
			seed(t, s, "b", start)
			seed(t, s, "bb", map[string]string{"x": "other bucket"})
			err := s.Update(func(tx store.Tx) error { return tc.fn(t, tx) })
			switch {
			case tc.wantErr == errAny && err == nil:
				t.Fatal("no error")
			case tc.wantErr != errAny && !errors.Is(err, tc.wantErr):
				t.Fatalf("err %v, want %v", err, tc.wantErr)
			}
			if got := dump(t, s, "b"); !mapsEqual(got, tc.want) {
				t.Fatalf("bucket b: %v, want %v", got, tc.want)
			}
		})
	}
}

var errAny = errors.New("any error")

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestStoreViewIsReadOnlySnapshot(t *testing.T) {
	e := single(t)
	s := NewStore(e.Client, 2*time.Second)
	seed(t, s, "b", map[string]string{"a": "1", "b": "1"})
	ctx := context.Background()
	err := s.View(func(tx store.Tx) error {
		if err := tx.Put("b", "a", []byte("2")); err == nil {
			t.Error("Put in View accepted")
		}
		if err := tx.Delete("b", "a"); err == nil {
			t.Error("Delete in View accepted")
		}
		_ = tx.Get("b", "a") // takes the snapshot
		if _, err := e.Client.Put(ctx, storeRoot+"b/b", "changed"); err != nil {
			return err
		}
		if _, err := e.Client.Put(ctx, storeRoot+"b/c", "new"); err != nil {
			return err
		}
		if got := string(tx.Get("b", "b")); got != "1" {
			t.Errorf("read after a concurrent write: %q, want the snapshot's 1", got)
		}
		n := 0
		_ = tx.ForEach("b", func(string, []byte) error { n++; return nil })
		if n != 2 {
			t.Errorf("foreach saw %d keys, want the snapshot's 2", n)
		}
		tx.OnCommit(func() { t.Error("OnCommit ran for a View") })
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestStoreOnCommit(t *testing.T) {
	e := single(t)
	s := NewStore(e.Client, 2*time.Second)
	seed(t, s, "b", map[string]string{"k": "0"})

	t.Run("after commit, in order", func(t *testing.T) {
		var order []int
		err := s.Update(func(tx store.Tx) error {
			tx.OnCommit(func() { order = append(order, 1) })
			_ = tx.Put("b", "k", []byte("1"))
			tx.OnCommit(func() { order = append(order, 2) })
			if len(order) != 0 {
				t.Error("OnCommit ran before the commit")
			}
			return nil
		})
		if err != nil || !slices.Equal(order, []int{1, 2}) {
			t.Fatalf("err %v, callbacks %v", err, order)
		}
	})
	t.Run("never when fn fails", func(t *testing.T) {
		err := s.Update(func(tx store.Tx) error {
			tx.OnCommit(func() { t.Error("OnCommit ran though fn failed") })
			_ = tx.Put("b", "k", []byte("2"))
			return errBoom
		})
		if !errors.Is(err, errBoom) {
			t.Fatal(err)
		}
	})
	t.Run("a retried attempt's callbacks are dropped", func(t *testing.T) {
		attempts, first, second := 0, 0, 0
		err := s.Update(func(tx store.Tx) error {
			attempts++
			v := tx.Get("b", "k")
			if attempts == 1 {
				tx.OnCommit(func() { first++ })
				// A concurrent writer changes what we read.
				if _, err := e.Client.Put(context.Background(), storeRoot+"b/k", "other"); err != nil {
					return err
				}
			} else {
				tx.OnCommit(func() { second++ })
			}
			return tx.Put("b", "k", append(v, '+'))
		})
		if err != nil {
			t.Fatal(err)
		}
		if attempts != 2 || first != 0 || second != 1 {
			t.Fatalf("attempts %d, first attempt's callback %d, second's %d", attempts, first, second)
		}
		if got := dump(t, s, "b")["k"]; got != "other+" {
			t.Fatalf("k = %q, want other+ (the retry read the concurrent write)", got)
		}
	})
}

// TestStoreConflicts: what a concurrent writer does between a
// transaction's reads and its commit, and whether the commit must retry.
func TestStoreConflicts(t *testing.T) {
	e := single(t)
	s := NewStore(e.Client, 2*time.Second)
	ctx := context.Background()
	put := func(k, v string) {
		if _, err := e.Client.Put(ctx, storeRoot+k, v); err != nil {
			t.Fatal(err)
		}
	}
	del := func(k string) {
		if _, err := e.Client.Delete(ctx, storeRoot+k); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name   string
		read   func(tx store.Tx)
		meddle func()
		retry  bool
	}{
		{"a key read was changed", func(tx store.Tx) { tx.Get("b", "x") }, func() { put("b/x", "9") }, true},
		{"a key read was deleted", func(tx store.Tx) { tx.Get("b", "x") }, func() { del("b/x") }, true},
		{"a key read as missing appeared", func(tx store.Tx) { tx.Get("b", "none") }, func() { put("b/none", "1") }, true},
		{"a key written was changed", func(tx store.Tx) { tx.Get("b", "x") }, func() { put("w/out", "9") }, true},
		{"a ranged bucket got a new key", forEach("b"), func() { put("b/new", "1") }, true},
		{"a ranged key was changed", forEach("b"), func() { put("b/y", "9") }, true},
		{"a ranged key was deleted", forEach("b"), func() { del("b/y") }, true},
		{"another bucket changed", forEach("b"), func() { put("c/z", "1") }, false},
		{"a key not read changed", func(tx store.Tx) { tx.Get("b", "x") }, func() { put("b/y", "9") }, false},
		{"blind write: nothing read", func(tx store.Tx) {}, func() { put("w/out", "9") }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wipe(t, e.Client)
			seed(t, s, "b", map[string]string{"x": "1", "y": "2"})
			seed(t, s, "w", map[string]string{"out": "0"})
			attempts := 0
			err := s.Update(func(tx store.Tx) error {
				attempts++
				tc.read(tx)
				if attempts == 1 {
					tc.meddle()
				}
				return tx.Put("w", "out", []byte("mine"))
			})
			if err != nil {
				t.Fatal(err)
			}
			if retried := attempts > 1; retried != tc.retry {
				t.Fatalf("attempts %d, want retry %v", attempts, tc.retry)
			}
			if got := dump(t, s, "w")["out"]; got != "mine" {
				t.Fatalf("w/out = %q", got)
			}
		})
	}
}

func forEach(bucket string) func(tx store.Tx) {
	return func(tx store.Tx) { _ = tx.ForEach(bucket, func(string, []byte) error { return nil }) }
}

// TestStoreLargeRange: a bucket larger than one Range page, and more keys
// read than fit per-key in one Txn's If.
func TestStoreLargeRange(t *testing.T) {
	e := single(t)
	s := NewStore(e.Client, 5*time.Second)
	const n = 2*rangePage + 17
	var ops []clientv3.Op
	for i := range n {
		ops = append(ops, clientv3.OpPut(fmt.Sprintf("%sbig/%06d", storeRoot, i), strconv.Itoa(i)))
	}
	if _, err := e.Client.Txn(context.Background()).Then(ops...).Commit(); err != nil {
		t.Fatal(err)
	}
	seen := 0
	err := s.Update(func(tx store.Tx) error {
		seen = 0
		prev := ""
		err := tx.ForEach("big", func(k string, v []byte) error {
			if k <= prev {
				t.Errorf("%q after %q", k, prev)
			}
			prev = k
			seen++
			return nil
		})
		if err != nil {
			return err
		}
		return tx.Put("big", "sum", []byte(strconv.Itoa(seen)))
	})
	if err != nil || seen != n {
		t.Fatalf("err %v, saw %d of %d", err, seen, n)
	}
	t.Run("compares collapse to a bucket check", func(t *testing.T) {
		tx := s.newTx(true)
		tx.rev = 1
		tx.ranged[storeRoot+"big/"] = nil
		for i := range maxCompares + 5 {
			tx.reads[fmt.Sprintf("%sbig/%06d", storeRoot, i)] = read{exists: true, mod: 1}
		}
		tx.reads[storeRoot+"small/k"] = read{exists: true, mod: 1, point: true}
		if c := tx.compares(); len(c) != 2 {
			t.Fatalf("%d compares, want the bucket check and small/k", len(c))
		}
	})
}

// TestBankInvariant runs random concurrent transfers between accounts
// with random failures in fn, and checks against an oracle built from the
// OnCommit callbacks: money is never made or lost, no balance goes below
// zero (no write skew), every committed transfer's callback ran exactly
// once and no other's did, and the final balances are exactly what the
// committed transfers add up to.
func TestBankInvariant(t *testing.T) {
	seedV := *seedFlag
	reportSeed(t, seedV)
	e := single(t)
	s := NewStore(e.Client, 5*time.Second)
	const (
		accounts = 20
		initial  = 100
		workers  = 8
		each     = 30
	)
	total := accounts * initial
	acct := func(i int) string { return fmt.Sprintf("acct-%02d", i) }
	start := map[string]string{}
	for i := range accounts {
		start[acct(i)] = strconv.Itoa(initial)
	}
	seed(t, s, "bank", start)

	type transfer struct {
		from, to, amount int
	}
	var (
		mu        sync.Mutex
		callbacks = map[int]int{}      // transfer id → OnCommit runs
		moved     = map[int]transfer{} // what the committed attempt moved
		returned  = map[int]error{}
		conflicts atomic.Int64
		attempts  atomic.Int64
	)
	stop := make(chan struct{})
	var checks atomic.Int64
	var checker sync.WaitGroup
	checker.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			sum := 0
			err := s.View(func(tx store.Tx) error {
				return tx.ForEach("bank", func(k string, v []byte) error {
					n, err := strconv.Atoi(string(v))
					if n < 0 {
						t.Errorf("%s went negative: %d", k, n)
					}
					sum += n
					return err
				})
			})
			if err != nil {
				t.Errorf("check: %v", err)
				return
			}
			if sum != total {
				t.Errorf("total %d, want %d", sum, total)
			}
			checks.Add(1)
		}
	})

	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(seedV), uint64(w)))
			for i := range each {
				id := w*each + i
				a := rng.IntN(accounts)
				b := (a + 1 + rng.IntN(accounts-1)) % accounts
				want := 1 + rng.IntN(60)
				fail := rng.IntN(5) == 0
				err := s.Update(func(tx store.Tx) error {
					attempts.Add(1)
					fa, err := strconv.Atoi(string(tx.Get("bank", acct(a))))
					if err != nil {
						return err
					}
					fb, err := strconv.Atoi(string(tx.Get("bank", acct(b))))
					if err != nil {
						return err
					}
					amount := min(want, fa) // never overdraw
					if err := tx.Put("bank", acct(a), []byte(strconv.Itoa(fa-amount))); err != nil {
						return err
					}
					if err := tx.Put("bank", acct(b), []byte(strconv.Itoa(fb+amount))); err != nil {
						return err
					}
					tx.OnCommit(func() {
						mu.Lock()
						defer mu.Unlock()
						callbacks[id]++
						moved[id] = transfer{a, b, amount}
					})
					if fail {
						return errBoom
					}
					return nil
				})
				if errors.Is(err, ErrConflict) {
					conflicts.Add(1)
				} else if err != nil && !errors.Is(err, errBoom) {
					t.Errorf("transfer %d: %v", id, err)
				}
				mu.Lock()
				returned[id] = err
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(stop)
	checker.Wait()

	balances := make([]int, accounts)
	for i := range balances {
		balances[i] = initial
	}
	committed := 0
	for id, err := range returned {
		switch n := callbacks[id]; {
		case err == nil && n != 1:
			t.Errorf("transfer %d committed but its OnCommit ran %d times", id, n)
		case err != nil && n != 0:
			t.Errorf("transfer %d failed (%v) but its OnCommit ran %d times", id, err, n)
		}
		if err == nil {
			committed++
			tr := moved[id]
			balances[tr.from] -= tr.amount
			balances[tr.to] += tr.amount
		}
	}
	got := dump(t, s, "bank")
	for i, want := range balances {
		if got[acct(i)] != strconv.Itoa(want) {
			t.Errorf("%s = %s, the committed transfers say %d", acct(i), got[acct(i)], want)
		}
	}
	if committed == 0 || checks.Load() == 0 {
		t.Fatalf("%d transfers committed, %d checks ran: the test tested nothing", committed, checks.Load())
	}
	t.Logf("seed %d: %d of %d transfers committed, %d retries, %d gave up on conflicts, %d total checks",
		seedV, committed, len(returned), attempts.Load()-int64(len(returned)), conflicts.Load(), checks.Load())
}

func TestFencing(t *testing.T) {
	e := single(t)
	cli := e.Client
	s := NewStore(cli, 2*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	l1, err := Campaign(ctx, cli, "n1", 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := Leader(ctx, cli); err != nil || got != "n1" {
		t.Fatalf("Leader: %q %v", got, err)
	}
	f1 := s.Fenced(l1.Fence)
	if !f1.LastFenced().IsZero() {
		t.Fatal("LastFenced set before any proof")
	}
	before := time.Now()
	if err := f1.Update(func(tx store.Tx) error { return tx.Put("outbox", "a", []byte("1")) }); err != nil {
		t.Fatal(err)
	}
	if lf := f1.LastFenced(); lf.Before(before) {
		t.Fatalf("LastFenced %v did not advance past %v", lf, before)
	}
	if err := f1.Check(ctx); err != nil {
		t.Fatal(err)
	}

	// A second candidate waits its turn.
	type result struct {
		l   *Leadership
		err error
	}
	second := make(chan result, 1)
	go func() {
		l, err := Campaign(ctx, cli, "n2", 2*time.Second)
		second <- result{l, err}
	}()
	select {
	case r := <-second:
		t.Fatalf("second candidate elected while the first leads: %+v", r)
	case <-time.After(300 * time.Millisecond):
	}

	if err := l1.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-l1.Done():
	case <-time.After(time.Second):
		t.Fatal("Done not closed by Resign")
	}
	r := <-second
	if r.err != nil {
		t.Fatal(r.err)
	}
	l2 := r.l
	if l2.Fence == l1.Fence {
		t.Fatal("new leader has the old fence")
	}

	t.Run("the old leader is fenced and writes nothing", func(t *testing.T) {
		last := f1.LastFenced()
		wrote := false
		err := f1.Update(func(tx store.Tx) error {
			tx.OnCommit(func() { wrote = true })
			_ = tx.Get("outbox", "a")
			return tx.Put("outbox", "stale", []byte("x"))
		})
		if !errors.Is(err, ErrFenced) || wrote {
			t.Fatalf("err %v, OnCommit ran %v", err, wrote)
		}
		if err := f1.Check(ctx); !errors.Is(err, ErrFenced) {
			t.Fatalf("Check: %v", err)
		}
		if got := f1.LastFenced(); !got.Equal(last) {
			t.Fatalf("LastFenced moved on failure: %v → %v", last, got)
		}
		if _, ok := dump(t, s, "outbox")["stale"]; ok {
			t.Fatal("the fenced write landed")
		}
	})
	t.Run("the new leader writes", func(t *testing.T) {
		f2 := s.Fenced(l2.Fence)
		if err := f2.Update(func(tx store.Tx) error { return tx.Put("outbox", "b", []byte("2")) }); err != nil {
			t.Fatal(err)
		}
		if f2.LastFenced().IsZero() {
			t.Fatal("LastFenced not set")
		}
	})
	t.Run("a revoked lease fences too", func(t *testing.T) {
		f2 := s.Fenced(l2.Fence)
		if _, err := cli.Revoke(ctx, l2.s.Lease()); err != nil {
			t.Fatal(err)
		}
		select {
		case <-l2.Done():
		case <-time.After(3 * time.Second):
			t.Fatal("Done not closed after the lease was revoked")
		}
		if err := f2.Update(func(tx store.Tx) error { return tx.Put("outbox", "c", []byte("3")) }); !errors.Is(err, ErrFenced) {
			t.Fatalf("err %v, want ErrFenced", err)
		}
		if got, err := Leader(ctx, cli); err != nil || got != "" {
			t.Fatalf("Leader after the last one left: %q %v", got, err)
		}
		_ = l2.Resign(ctx)
	})
}

// BenchmarkStoreUpdate: one read-modify-write commit on a single node
// (fsync included), with the latency percentiles.
func BenchmarkStoreUpdate(b *testing.B) {
	e := single(b)
	s := NewStore(e.Client, 5*time.Second)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		t0 := time.Now()
		err := s.Update(func(tx store.Tx) error {
			v := tx.Get("alarms", "k")
			return tx.Put("alarms", "k", append(v[:len(v):len(v)], 'x'))
		})
		lat = append(lat, time.Since(t0))
		if err != nil {
			b.Fatal(err)
		}
		if i%100 == 99 {
			_ = s.Update(func(tx store.Tx) error { return tx.Delete("alarms", "k") })
		}
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	}
}
