package main

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/internal/testpeer"
)

// The Overview shows the last reload: refused with the error, then ok;
// and the targets' up/down from the daemon's own vedetta_target_up.
func TestE2EStatusPageShowsReloads(t *testing.T) {
	t.Parallel()
	c := newE2EConfig(t, relay(closedPort(t)))
	cfg := c.write(t)
	d := startDaemon(t, cfg, c.HTTPPort)
	testpeer.WaitFor(t, 5*time.Second, "the target up on the overview", func() bool {
		_, body := d.get("/")
		return strings.Contains(body, `<span class="up">1 up</span>`) && strings.Contains(body, "no reload since start")
	})

	writeFile(t, cfg, strings.Replace(c.yaml(), "    interval: 1s", "    interval: 1s\n    intervall: 5s", 1))
	d.signal(syscall.SIGHUP)
	testpeer.WaitFor(t, 5*time.Second, "the refused reload on the overview", func() bool {
		_, body := d.get("/")
		return strings.Contains(body, `<span class="down">refused</span>`) && strings.Contains(body, "targets[0].intervall: unknown field")
	})
	writeFile(t, cfg, c.yaml())
	d.signal(syscall.SIGHUP)
	testpeer.WaitFor(t, 5*time.Second, "the good reload on the overview", func() bool {
		_, body := d.get("/")
		return strings.Contains(body, `<span class="up">ok</span>`)
	})
	if code, _ := d.get("/alarm/nosuch"); code != 404 {
		t.Errorf("/alarm/nosuch: HTTP %d", code)
	}
}
