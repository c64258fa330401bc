package dispatch

import (
	"encoding/json"

	"github.com/vedetta-dc/vedetta/model"
	"github.com/vedetta-dc/vedetta/oncall"

	"github.com/vedetta-dc/vedetta/internal/store"
)

// Persist records alarm changes and queues their notifications in one
// transaction: after a crash either both the new state and its
// notifications exist, or neither does and the next evaluation redoes them.
func Persist(st store.Store, d *Dispatcher, changes []model.Change) error {
	return st.Update(func(tx store.Tx) error {
		for _, c := range changes {
			if kept, err := recordAlarm(tx, c); err != nil || !kept {
				if err != nil {
					return err
				}
				if d != nil {
					d.dropStanding(tx, c.Alarm.ID) // a pending alarm that cleared
				}
				continue
			}
			if d != nil {
				if err := d.Update(tx, c.Alarm, c.Event); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// recordAlarm writes one change's alarm state (or deletes it: kept is
// false), the part Persist and PersistInbox share.
func recordAlarm(tx store.Tx, c model.Change) (kept bool, err error) {
	if c.Deleted {
		return false, tx.Delete(store.Alarms, c.Alarm.ID)
	}
	b, err := json.Marshal(c.Alarm)
	if err != nil {
		return false, err
	}
	return true, tx.Put(store.Alarms, c.Alarm.ID, b)
}

// LoadAlarms reads the alarms saved by Persist. corrupt counts records
// that could not be decoded: they are skipped (one bad record must not
// hide the others) and the caller says so (StateLost), never silently.
func LoadAlarms(st store.Store) (alarms []model.Alarm, corrupt int, err error) {
	err = st.View(func(tx store.Tx) error {
		return tx.ForEach(store.Alarms, func(_ string, v []byte) error {
			var a model.Alarm
			if err := json.Unmarshal(v, &a); err != nil || a.ID == "" {
				corrupt++
				return nil
			}
			alarms = append(alarms, a)
			return nil
		})
	})
	return alarms, corrupt, err
}

// DropUndecodable deletes the records that do not decode (after the
// caller kept a copy of the file): reported once, as StateLost, not at
// every start.
func DropUndecodable(st store.Store) (int, error) {
	n := 0
	err := st.Update(func(tx store.Tx) error {
		check := map[string]func([]byte) error{
			store.Alarms:    func(b []byte) error { var a model.Alarm; return json.Unmarshal(b, &a) },
			store.Notices:   func(b []byte) error { var x Notice; return json.Unmarshal(b, &x) },
			store.Silences:  func(b []byte) error { var x Silence; return json.Unmarshal(b, &x) },
			store.Overrides: func(b []byte) error { var x oncall.Override; return json.Unmarshal(b, &x) },
			store.History:   func(b []byte) error { var x HistoryEntry; return json.Unmarshal(b, &x) },
			store.Groups:    func(b []byte) error { var x group; return json.Unmarshal(b, &x) },
			store.Outbox:    func(b []byte) error { _, err := decodeDelivery(b); return err },
		}
		for bucket, decode := range check {
			var bad []string
			if err := tx.ForEach(bucket, func(k string, v []byte) error {
				if decode(v) != nil {
					bad = append(bad, k)
				}
				return nil
			}); err != nil {
				return err
			}
			for _, k := range bad {
				if err := tx.Delete(bucket, k); err != nil {
					return err
				}
			}
			n += len(bad)
		}
		return nil
	})
	return n, err
}
