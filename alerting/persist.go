package alerting

import (
	"encoding/json"

	"github.com/vedetta-dc/vedetta/internal/store"
)

// Persist records alarm changes and queues their notifications in one
// transaction: after a crash either both the new state and its
// notifications exist, or neither does and the next evaluation redoes them.
func Persist(st store.Store, d *Dispatcher, changes []Change) error {
	return st.Update(func(tx store.Tx) error {
		for _, c := range changes {
			if c.Deleted {
				if err := tx.Delete(store.Alarms, c.Alarm.ID); err != nil {
					return err
				}
				continue
			}
			b, err := json.Marshal(c.Alarm)
			if err != nil {
				return err
			}
			if err := tx.Put(store.Alarms, c.Alarm.ID, b); err != nil {
				return err
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

// LoadAlarms reads the alarms saved by Persist.
func LoadAlarms(st store.Store) ([]Alarm, error) {
	var out []Alarm
	err := st.View(func(tx store.Tx) error {
		return tx.ForEach(store.Alarms, func(_ string, v []byte) error {
			var a Alarm
			if err := json.Unmarshal(v, &a); err != nil {
				return nil // one corrupt record must not hide the others
			}
			out = append(out, a)
			return nil
		})
	})
	return out, err
}
