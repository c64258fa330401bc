package dispatch

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/model"

	"github.com/vedetta-dc/vedetta/internal/store"
)

// FuzzStateRecords feeds random bytes, as records of the state file, to
// the code that reads them back at start and at run time: the outbox
// index and claim, notices, groups, alarms. A record that does not decode
// is an error (counted, reported as StateLost), never a panic.
func FuzzStateRecords(f *testing.F) {
	d := Delivery{Key: "a/1/firing/noc/email/x", Seq: 1, Seqs: []uint64{1, 2}, Events: []model.EventKind{model.EventFiring},
		AlarmIDs: []string{"a", "b", "c"}, State: DeliverySending, Channel: "email", Recipient: "x", DigestOf: []string{"k"}}
	n := Notice{AlarmID: "a", Told: []Recipient{{Receiver: "noc", Channel: "email", Address: "x", Route: 7}}, Waiting: "silenced", WaitingEvent: model.EventResolved}
	g := group{Key: "0|group=g1", Route: 3, Items: []groupItem{{Alarm: model.Alarm{ID: "a"}, To: n.Told, Seq: 4}}}
	for _, v := range []any{d, n, g, model.Alarm{ID: "a", Rule: "R", State: model.StateFiring}} {
		b, _ := json.Marshal(v)
		f.Add(b)
	}
	f.Add([]byte(`{"alarm_ids":["a"],"seqs":[],"state":"pending"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := store.OpenBolt(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		err = st.Update(func(tx store.Tx) error {
			for _, bk := range []string{store.Outbox, store.Notices, store.Groups, store.Silences, store.Alarms} {
				if err := tx.Put(bk, "a", b); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := LoadAlarms(st); err != nil {
			t.Fatalf("LoadAlarms: %v", err)
		}
		cfg := baseConfig()
		disp, err := NewDispatcher(st, cfg, nil, discard())
		if err != nil {
			t.Fatalf("NewDispatcher: %v", err)
		}
		disp.now = func() time.Time { return time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC) }
		disp.housekeeping()
		for _, x := range disp.due() {
			_ = x.seqOf(5)
			_ = x.eventOf(5)
		}
		_, _ = disp.Deliveries("a")
		_ = disp.Notice("a")
	})
}
