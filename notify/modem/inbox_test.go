package modem

import (
	"context"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestParseList(t *testing.T) {
	for _, tc := range []struct {
		name  string
		lines []string
		want  []Incoming
	}{
		{"two messages", []string{
			`+CMGL: 1,"REC UNREAD","+393331234567",,"26/12/01,15:04:05+04"`, "4a7b ACK",
			`+CMGL: 3,"REC READ","+393339876543","Marco, NOC","26/12/01,15:05:00+04"`, "ACK 9f00",
		}, []Incoming{{1, "+393331234567", "4a7b ACK"}, {3, "+393339876543", "ACK 9f00"}}},
		{"a text of several lines", []string{`+CMGL: 2,"REC UNREAD","+391",,`, "line one", "line two"},
			[]Incoming{{2, "+391", "line one\nline two"}}},
		{"a header that does not parse is skipped with its text", []string{`+CMGL: x,"REC UNREAD","+391"`, "lost", `+CMGL: 4,"REC UNREAD","+392"`, "kept"},
			[]Incoming{{4, "+392", "kept"}}},
		{"text before any header", []string{"stray", `+CMGL: 5,"REC READ","+393"`}, []Incoming{{5, "+393", ""}}},
		{"nothing", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := parseList(tc.lines); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// What a modem lists is network input: never a panic, every message has a
// non-negative index from a header.
func FuzzParseList(f *testing.F) {
	f.Add(`+CMGL: 1,"REC UNREAD","+393331234567",,"26/12/01,15:04:05+04"` + "\n4a7b ACK\n+CMGL: -2,\"\",\n")
	f.Add("+CMGL:\n+CMGL: 7\n\"\"\"")
	f.Fuzz(func(t *testing.T, s string) {
		for _, m := range parseList(strings.Split(s, "\n")) {
			if m.Index < 0 || !strings.Contains(s, "+CMGL:") {
				t.Fatalf("%+v from %q", m, s)
			}
		}
	})
}

type replies struct {
	mu  sync.Mutex
	got []Incoming
}

func (r *replies) handle(_ context.Context, m Incoming) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, m)
	return "Acknowledged " + strings.Fields(m.Text)[0]
}

func (r *replies) list() []Incoming {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Incoming(nil), r.got...)
}

// A reply announced by +CMTI is read at once, answered by SMS and deleted
// from the SIM; one that came without a notice is read by the periodic
// listing; each is handed over once.
func TestListenReadsAnswersAndDeletes(t *testing.T) {
	sim, p, _ := start(t, "")
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	var r replies
	done := make(chan struct{})
	go func() { defer close(done); p.Listen(ctx, 2*time.Second, r.handle) }()
	// The first listing opens the port; only then does the modem announce.
	waitUntil(t, "the first listing", func() bool { return sim.Count(`AT+CMGL="ALL"`) >= 1 })
	start := time.Now()
	sim.Deliver("+393331234567", "4a7b ACK")
	waitUntil(t, "the announced reply handled", func() bool { return len(r.list()) == 1 })
	if d := time.Since(start); d > time.Second {
		t.Errorf("announced reply read after %v: +CMTI should wake the reader at once", d)
	}
	waitUntil(t, "the answer sent and the message deleted", func() bool {
		return len(sim.Sent()) == 1 && len(sim.Inbox()) == 0
	})
	if s := sim.Sent()[0]; s.Number != "+393331234567" || s.Text != "Acknowledged 4a7b" {
		t.Errorf("answer %+v", s)
	}
	sim.DeliverQuietly("+393339876543", "ACK 9f00")
	waitUntil(t, "the quiet reply handled by the periodic listing", func() bool { return len(r.list()) == 2 })
	waitUntil(t, "deleted", func() bool { return len(sim.Inbox()) == 0 })
	time.Sleep(2500 * time.Millisecond) // one more listing: nothing handed over twice
	if got := r.list(); len(got) != 2 || got[1].From != "+393339876543" || got[1].Text != "ACK 9f00" {
		t.Errorf("handled %+v", got)
	}
	cancel()
	<-done
}

// A modem that refuses the IRA character set is read in UCS-2.
func TestListenUCS2(t *testing.T) {
	sim, p, _ := start(t, "")
	sim.RefuseIRA()
	sim.DeliverQuietly("+393331234567", "4a7b ACK è")
	msgs, err := p.inbox(ctxT(t))
	if err != nil || len(msgs) != 1 || msgs[0].From != "+393331234567" || msgs[0].Text != "4a7b ACK è" {
		t.Fatalf("%+v %v", msgs, err)
	}
}

func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(8 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
