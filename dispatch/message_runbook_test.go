package dispatch

import (
	"strings"
	"testing"

	"github.com/vedetta-dc/vedetta/model"
)

func TestBodyCarriesTheRunbook(t *testing.T) {
	a := model.Alarm{ID: "a1", Rule: "UPSOnBattery", State: model.StateFiring, Summary: "ups-b runs on battery",
		Description: "The UPS runs on its battery.", Runbook: "https://wiki.example/runbooks/ups#ups-b",
		Labels: map[string]string{"target": "ups-b"}}
	if b := Body(a, model.EventFiring); !strings.Contains(b, "\nRunbook: https://wiki.example/runbooks/ups#ups-b\n") {
		t.Errorf("body without the runbook line:\n%s", b)
	}
	a.Runbook = ""
	if b := Body(a, model.EventFiring); strings.Contains(b, "Runbook") {
		t.Errorf("a rule without a runbook has a runbook line:\n%s", b)
	}
}
