package collectors

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/vedetta-dc/vedetta/model"
)

type collectFunc func(ctx context.Context, emit func(model.Sample)) error

func (f collectFunc) Collect(ctx context.Context, emit func(model.Sample)) error { return f(ctx, emit) }

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

type batches struct {
	mu sync.Mutex
	by map[string][]model.Batch
}

func (b *batches) sink(x model.Batch) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.by == nil {
		b.by = map[string][]model.Batch{}
	}
	b.by[x.Target] = append(b.by[x.Target], x)
}

func (b *batches) get(t string) []model.Batch {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]model.Batch(nil), b.by[t]...)
}

func spec(name string, iv, timeout time.Duration) Spec {
	return Spec{Name: name, Kind: "test", Class: "test", Interval: iv, Timeout: timeout}
}

func value(b model.Batch, name string) (float64, bool) {
	for _, s := range b.Samples {
		if s.Name == name {
			return s.Value, true
		}
	}
	return 0, false
}

// A dead target (hangs until its deadline) does not delay a healthy one,
// even with a concurrency limit of 2; every goroutine stops with ctx.
func TestSlowTargetDoesNotDelayOthers(t *testing.T) {
	defer goleak.VerifyNone(t)
	dead := collectFunc(func(ctx context.Context, _ func(model.Sample)) error { <-ctx.Done(); return ctx.Err() })
	ok := collectFunc(func(_ context.Context, emit func(model.Sample)) error {
		emit(model.Sample{Name: "x", Value: 1, Labels: model.L("target", "spoof", "k", "v")})
		return nil
	})
	var b batches
	s := NewScheduler([]Target{
		{Spec: spec("dead", 400*time.Millisecond, 300*time.Millisecond), Collector: dead},
		{Spec: spec("ok", 100*time.Millisecond, 80*time.Millisecond), Collector: ok},
	}, 2, b.sink, quiet())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	time.Sleep(1050 * time.Millisecond)
	cancel()
	<-done

	okb := b.get("ok")
	if len(okb) < 7 {
		t.Fatalf("healthy target collected %d times in ~1s at 100ms, want ≥ 7", len(okb))
	}
	if up, _ := value(okb[0], "vedetta_target_up"); up != 1 {
		t.Error("healthy target not up")
	}
	// The collector's own labels are kept, but it cannot change target.
	for _, smp := range okb[0].Samples {
		if smp.Labels.Get("target") != "ok" || smp.Labels.Get("class") != "test" {
			t.Fatalf("labels %v", smp.Labels)
		}
	}
	if okb[0].Samples[0].Labels.Get("k") != "v" {
		t.Errorf("collector labels lost: %v", okb[0].Samples[0].Labels)
	}
	deadb := b.get("dead")
	if len(deadb) < 2 {
		t.Fatalf("dead target rounds: %d", len(deadb))
	}
	last := deadb[len(deadb)-1]
	if up, _ := value(last, "vedetta_target_up"); up != 0 || last.Err == nil {
		t.Errorf("dead target: up %v err %v", up, last.Err)
	}
	if f, _ := value(last, "vedetta_target_consecutive_failures"); f != float64(len(deadb)) {
		t.Errorf("consecutive failures %v after %d rounds", f, len(deadb))
	}
	if d, _ := value(last, "vedetta_collection_duration_seconds"); d < 0.25 || d > 0.6 {
		t.Errorf("dead target round took %vs with a 300ms deadline", d)
	}
}

// Targets that queue for too few slots in their first round come back
// spread out as they got a slot, not all at once: from the third round on
// none waits for a slot (vedetta_collection_wait_seconds), and each is
// polled about one interval after its last poll started. (Before, every round queued again in a new order:
// at 20,000 targets some were polled 1.3 s more than an interval apart.)
func TestQueuedTargetsSpreadOutAfterTheirFirstRound(t *testing.T) {
	defer goleak.VerifyNone(t)
	const (
		iv      = time.Second
		busy    = 200 * time.Millisecond // 4 targets x 200 ms on 1 slot: 800 ms of 1 s
		targets = 4
	)
	work := collectFunc(func(context.Context, func(model.Sample)) error { time.Sleep(busy); return nil })
	var ts []Target
	for i := range targets {
		ts = append(ts, Target{Spec: spec(fmt.Sprint("t", i), iv, time.Second), Collector: work})
	}
	var b batches
	s := NewScheduler(ts, 1, b.sink, quiet())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	time.Sleep(5*iv + iv/2)
	cancel()
	<-done
	for i := range targets {
		bs := b.get(fmt.Sprint("t", i))
		if len(bs) < 5 {
			t.Fatalf("t%d: %d rounds in 5.5 intervals", i, len(bs))
		}
		for k := 2; k < len(bs); k++ {
			// Scheduling noise is a few milliseconds (tens on a loaded
			// machine); a queue behind one or more others is 200 ms or
			// more.
			if w, ok := value(bs[k], "vedetta_collection_wait_seconds"); !ok || w > (busy/2).Seconds() {
				t.Errorf("t%d: round %d waited %.3fs for the slot (reported: %v)", i, k, w, ok)
			}
			if gap := bs[k].Start.Sub(bs[k-1].Start); gap > iv+busy/2 {
				t.Errorf("t%d: rounds %d and %d started %v apart (interval %v)", i, k-1, k, gap, iv)
			}
		}
	}
}

func TestPanickingCollectorIsAnError(t *testing.T) {
	boom := collectFunc(func(context.Context, func(model.Sample)) error { panic("malformed answer") })
	s := NewScheduler([]Target{{Spec: spec("p", time.Second, 500*time.Millisecond), Collector: boom}}, 1, func(model.Batch) {}, quiet())
	b, err := s.CollectOnce(context.Background(), "p")
	if err != nil || b.Err == nil {
		t.Fatalf("err %v, batch err %v", err, b.Err)
	}
	if up, _ := value(b, "vedetta_target_up"); up != 0 {
		t.Error("a panicking target counts as up")
	}
}

// Trigger polls at once instead of waiting for the interval.
func TestTrigger(t *testing.T) {
	defer goleak.VerifyNone(t)
	var b batches
	s := NewScheduler([]Target{{Spec: spec("u", time.Hour, time.Second), Collector: collectFunc(func(context.Context, func(model.Sample)) error { return nil })}}, 1, b.sink, quiet())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	// The first round comes after at most 2 s of jitter; trigger twice more.
	deadline := time.Now().Add(5 * time.Second)
	for len(b.get("u")) < 3 && time.Now().Before(deadline) {
		s.Trigger("u")
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
	if n := len(b.get("u")); n < 3 {
		t.Fatalf("%d rounds with triggers on a 1h interval", n)
	}
	if s.Trigger("nope") {
		t.Error("trigger of an unknown target reported success")
	}
}
