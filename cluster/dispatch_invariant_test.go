package cluster

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/vedetta-dc/vedetta/dispatch"
	"github.com/vedetta-dc/vedetta/internal/config"
	"github.com/vedetta-dc/vedetta/model"
	"github.com/vedetta-dc/vedetta/notify"
)

// The cluster's promise, stated as invariants and tried against random,
// reproducible fault schedules on a real three-member etcd (not only the
// scenarios of the end-to-end tests):
//
//  1. never lost: every alarm event written to the replicated inbox is
//     delivered, whatever happens to the dispatchers meanwhile;
//  2. sent once: a message goes twice only when its dispatcher lost the
//     office with it in flight: never twice by one term of office, and at
//     most 8 (the sends a dispatcher has in flight) made again after each
//     term that ended. Not 1: the next dispatcher cannot ask a relay
//     whether it took a message (README, "The duplicate bound").
//
// (That a deposed dispatcher's writes are refused is TestFencing's, on the
// store; that it does not send once cut off is the end-to-end
// TestE2EClusterDispatcherCutOffThenPaused's.)
//
// The faults: a dispatcher process crashes (its client vanishes, its lease
// is not revoked and runs out), a process hangs inside a send (a relay
// that never answers) while its lease is revoked under it (a pause), and
// crashed processes come back.

var dispatchSchedules = flag.Int("cluster.schedules", 3, "random fault schedules of TestDispatchInvariants")

// recorder is the relay every dispatcher sends to: what reached it, by
// delivery key.
type recorder struct {
	mu    sync.Mutex
	sends map[string]int
	byEv  map[string]map[string]bool // alarm/event -> keys
	hang  map[string]chan struct{}   // process -> closed when its sends may go on
	// terms: for each delivery key, the term of office (numbered across
	// processes) of each send, in order.
	terms map[string][]int
}

type procNotifier struct {
	r    *recorder
	name string
	term int // the term of office this dispatcher serves
}

func (p procNotifier) Notify(ctx context.Context, m notify.Message) (string, error) {
	p.r.mu.Lock()
	gate := p.r.hang[p.name]
	p.r.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	p.r.mu.Lock()
	defer p.r.mu.Unlock()
	p.r.sends[m.Key]++
	p.r.terms[m.Key] = append(p.r.terms[m.Key], p.term)
	ev := m.AlarmID + "/" + m.Event
	if p.r.byEv[ev] == nil {
		p.r.byEv[ev] = map[string]bool{}
	}
	p.r.byEv[ev][m.Key] = true
	return "relay", nil
}

// proc is one vedetta process on one member: its own client (a crash
// loses it, and its leases run out), campaigning and, in office, running
// the dispatcher on the fenced store.
type proc struct {
	name     string
	endpoint string
	cli      *clientv3.Client
	cancel   context.CancelFunc
	done     chan struct{}
	terms    *int
	mu       *sync.Mutex
}

func (p *proc) start(t *testing.T, cfg *config.Config, r *recorder, ttl time.Duration) {
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{p.endpoint}, DialTimeout: 2 * time.Second,
		Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.cli, p.cancel, p.done = cli, cancel, make(chan struct{})
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	go func() {
		defer close(p.done)
		for ctx.Err() == nil {
			lead, err := Campaign(ctx, cli, p.name, ttl)
			if err != nil {
				continue
			}
			p.mu.Lock()
			*p.terms++
			term := *p.terms
			p.mu.Unlock()
			fenced := NewStore(cli, 2*time.Second).Fenced(lead.Fence)
			disp, err := dispatch.NewDispatcher(fenced, cfg, map[string]notify.Notifier{"email": procNotifier{r, p.name, term}}, log)
			if err != nil {
				continue
			}
			disp.MaySend = func(ctx context.Context) error {
				if time.Since(fenced.LastFenced()) < ttl/2 {
					return nil
				}
				cctx, c := context.WithTimeout(ctx, ttl/4)
				defer c()
				return fenced.Check(cctx)
			}
			tctx, stop := context.WithCancel(ctx)
			var wg sync.WaitGroup
			wg.Go(func() { disp.Run(tctx) })
			wg.Go(func() {
				for tctx.Err() == nil {
					_, _ = disp.DrainInbox(200)
					select {
					case <-tctx.Done():
					case <-time.After(50 * time.Millisecond):
					}
				}
			})
			select {
			case <-ctx.Done():
			case <-lead.Done():
			}
			stop()
			wg.Wait()
		}
	}()
}

// crash: the process is gone, without a word to etcd.
func (p *proc) crash() {
	p.cancel()
	_ = p.cli.Close()
	<-p.done
	p.cli = nil
}

func TestDispatchInvariants(t *testing.T) {
	if testing.Short() {
		t.Skip("three etcd members and random faults: not with -short")
	}
	cs := configs(t, 3)
	nodes := startCluster(t, cs)
	const ttl = 2 * time.Second
	cfg := &config.Config{
		Receivers: []config.Receiver{{Name: "noc", Email: []string{"noc@x.example"}}},
		Routes:    []config.Route{{Receivers: []string{"noc"}}},
	}
	for s := 0; s < *dispatchSchedules; s++ {
		seed := *seedFlag + int64(s)
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			reportSeed(t, seed)
			runSchedule(t, nodes, cfg, ttl, seed)
		})
	}
}

func runSchedule(t *testing.T, nodes []*Etcd, cfg *config.Config, ttl time.Duration, seed int64) {
	rng := rand.New(rand.NewPCG(uint64(seed), 11))
	ctx := context.Background()
	if _, err := nodes[0].Client.Delete(ctx, "/vedetta/", clientv3.WithPrefix()); err != nil {
		t.Fatal(err)
	}
	r := &recorder{sends: map[string]int{}, byEv: map[string]map[string]bool{}, hang: map[string]chan struct{}{}, terms: map[string][]int{}}
	var mu sync.Mutex
	terms := 0
	procs := make([]*proc, len(nodes))
	for i, n := range nodes {
		procs[i] = &proc{name: fmt.Sprintf("p%d", i), endpoint: n.Client.Endpoints()[0], terms: &terms, mu: &mu}
		procs[i].start(t, cfg, r, ttl)
	}
	defer func() {
		for _, p := range procs {
			if p.cli != nil {
				p.crash()
			}
		}
	}()
	writer := NewStore(nodes[0].Client, 2*time.Second)

	// Alarms fire and resolve; each event is written once to the inbox,
	// as a member's engine does (retried until the store takes it).
	const alarms, steps = 12, 60
	state := make([]model.Alarm, alarms)
	for i := range state {
		state[i] = model.Alarm{ID: fmt.Sprintf("a%02d", i), Rule: "R", Severity: "critical",
			Labels: map[string]string{"target": fmt.Sprintf("t%02d", i)}, Site: "x"}
	}
	want := map[string]int{} // alarm/event -> events written
	down := map[int]int{}    // crashed proc -> steps until it comes back
	for step := 0; step < steps; step++ {
		var changes []model.Change
		for k := 1 + rng.IntN(4); k > 0; k-- {
			a := &state[rng.IntN(alarms)]
			a.Seq++
			now := time.Now()
			ev := model.EventFiring
			if a.State == model.StateFiring {
				a.State, a.ResolvedAt, ev = model.StateResolved, now, model.EventResolved
			} else {
				a.State, a.ActiveAt, a.FiringAt = model.StateFiring, now, now
			}
			changes = append(changes, model.Change{Alarm: a.Clone(), Event: ev})
			want[a.ID+"/"+string(ev)]++
		}
		for {
			if err := dispatch.PersistInbox(writer, "w", changes); err == nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		switch f := rng.IntN(20); {
		case f < 2: // the dispatcher crashes
			if i := officeHolder(ctx, nodes[0].Client, procs); i >= 0 && len(down) < 2 {
				procs[i].crash()
				down[i] = 2 + rng.IntN(8)
			}
		case f < 3: // it hangs in a send while its lease is taken away
			if i := officeHolder(ctx, nodes[0].Client, procs); i >= 0 {
				gate := make(chan struct{})
				r.mu.Lock()
				r.hang[procs[i].name] = gate
				r.mu.Unlock()
				revokeOffice(ctx, t, nodes[0].Client)
				hold := time.Duration(500+rng.IntN(2500)) * time.Millisecond // drawn here: rng is the schedule's, one goroutine's
				go func() {
					time.Sleep(hold)
					r.mu.Lock()
					delete(r.hang, procs[i].name)
					r.mu.Unlock()
					close(gate)
				}()
			}
		}
		for _, i := range slices.Sorted(maps.Keys(down)) { // in order: the schedule is reproducible
			if n := down[i] - 1; n <= 0 {
				procs[i].start(t, cfg, r, ttl)
				delete(down, i)
			} else {
				down[i] = n
			}
		}
		time.Sleep(time.Duration(50+rng.IntN(250)) * time.Millisecond)
	}
	for i := range down {
		procs[i].start(t, cfg, r, ttl)
	}

	deadline := time.Now().Add(40 * time.Second)
	for {
		r.mu.Lock()
		missing := 0
		for ev, n := range want {
			if len(r.byEv[ev]) < n {
				missing += n - len(r.byEv[ev])
			}
		}
		r.mu.Unlock()
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("invariant 1 (never lost): %d events never delivered", missing)
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(ttl) // room for a late duplicate
	r.mu.Lock()
	defer r.mu.Unlock()
	events, dups := 0, 0
	for ev, n := range want {
		events += n
		if got := len(r.byEv[ev]); got != n {
			t.Errorf("%s: %d distinct deliveries for %d events (a key reused or an event invented)", ev, got, n)
		}
	}
	for _, n := range r.sends {
		dups += n - 1
	}
	mu.Lock()
	changesOfOffice := terms - 1
	mu.Unlock()
	worst, v := checkResends(r.terms, 8)
	t.Logf("%d events, %d sends, %d duplicates, %d changes of dispatcher, at most %d made again after one term", events, len(r.sends)+dups, dups,
		changesOfOffice, worst)
	if v != "" {
		t.Error("invariant 2 (sent once): " + v)
	}
}

// checkResends checks the duplicate bound term by term. A term of office
// never sends one key twice (it knows its own sends); a key goes again
// only under another term, because a term that sent it ended with it
// unsettled: at most inFlight (the dispatcher's parallel sends) such keys
// per ended term. (The relay may see the later term's copy first: a
// paused dispatcher's send completes when it resumes.) It returns the
// first violation, or "", and the most sends one term left to another.
func checkResends(sends map[string][]int, inFlight int) (worst int, violation string) {
	lost := map[int]int{} // term -> its sends that another term made again
	for _, key := range slices.Sorted(maps.Keys(sends)) {
		ts := slices.Sorted(slices.Values(sends[key]))
		for i := 1; i < len(ts); i++ {
			if ts[i] == ts[i-1] {
				return 0, fmt.Sprintf("%s sent twice by term %d (terms %v)", key, ts[i], sends[key])
			}
			lost[ts[i-1]]++ // every term but the last let it go unsettled
		}
	}
	for _, term := range slices.Sorted(maps.Keys(lost)) {
		n := lost[term]
		worst = max(worst, n)
		if n > inFlight {
			return worst, fmt.Sprintf("term %d ended with %d sends made again by another term, more than the %d a dispatcher has in flight", term, n, inFlight)
		}
	}
	return worst, ""
}

// officeHolder is the process holding the dispatcher's office, or -1.
func officeHolder(ctx context.Context, cli *clientv3.Client, procs []*proc) int {
	name, err := Leader(ctx, cli)
	if err != nil {
		return -1
	}
	for i, p := range procs {
		if p.name == name && p.cli != nil {
			return i
		}
	}
	return -1
}

// revokeOffice takes the office from its holder as a long pause would:
// its lease is revoked by someone else, and it learns only when it next
// asks.
func revokeOffice(ctx context.Context, t *testing.T, cli *clientv3.Client) {
	resp, err := cli.Get(ctx, "/vedetta/dispatcher/", clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByCreateRevision, clientv3.SortAscend), clientv3.WithLimit(1))
	if err != nil || len(resp.Kvs) == 0 {
		return
	}
	if _, err := cli.Revoke(ctx, clientv3.LeaseID(resp.Kvs[0].Lease)); err != nil {
		t.Logf("revoke: %v", err)
	}
}

func TestCheckResends(t *testing.T) {
	many := map[string][]int{}
	for i := 0; i < 9; i++ {
		many[fmt.Sprintf("k%d", i)] = []int{3, 4}
	}
	for _, c := range []struct {
		name  string
		sends map[string][]int
		bad   bool
	}{
		{"each key once", map[string][]int{"a": {1}, "b": {2}}, false},
		{"again by the next term", map[string][]int{"a": {1, 2}, "b": {1, 2}, "c": {2, 3}}, false},
		{"the paused term's copy lands last", map[string][]int{"a": {2, 1}}, false},
		{"through three terms", map[string][]int{"a": {1, 2, 3}}, false},
		{"twice by one term", map[string][]int{"a": {1, 2, 2}}, true},
		{"nine lost by one term", many, true},
	} {
		if _, got := checkResends(c.sends, 8); (got != "") != c.bad {
			t.Errorf("%s: %q", c.name, got)
		}
	}
	if worst, _ := checkResends(map[string][]int{"a": {1, 2}, "b": {1, 2}, "c": {2, 3}}, 8); worst != 2 {
		t.Errorf("worst %d, want 2 (term 1 left a and b)", worst)
	}
}
