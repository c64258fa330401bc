package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/vedetta-dc/vedetta/internal/testpeer"
)

// latencyResult is one pipeline's delays from the change to delivery.
type latencyResult struct {
	name         string
	email, sms   []time.Duration
	trials, lost int
	note         string
}

// peers are the delivery ends every latency run shares.
type peers struct {
	mail   *testpeer.Mailpit
	twilio *testpeer.Twilio
}

// mailMsg is the part of Mailpit's message summary used here; Created is
// when Mailpit stored the message (the end of SMTP DATA).
type mailMsg struct {
	Subject string
	To      []struct{ Address string }
	Created time.Time
}

func (p *peers) mails(ctx context.Context) ([]mailMsg, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.mail.API+"/api/v1/messages?limit=2000", nil)
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer r.Body.Close()
	var out struct{ Messages []mailMsg }
	return out.Messages, json.NewDecoder(r.Body).Decode(&out)
}

func (p *peers) clearMail(ctx context.Context) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodDelete, p.mail.API+"/api/v1/messages", nil)
	if r, err := http.DefaultClient.Do(req); err == nil {
		r.Body.Close()
	}
}

// firstMail is the first e-mail to addr whose subject holds word, stored after t0.
func (p *peers) firstMail(ctx context.Context, addr, word string, t0 time.Time) (time.Time, bool) {
	ms, err := p.mails(ctx)
	if err != nil {
		return time.Time{}, false
	}
	var best time.Time
	for _, m := range ms {
		if len(m.To) == 0 || m.To[0].Address != addr || !strings.Contains(m.Subject, word) || m.Created.Before(t0.Add(-time.Millisecond)) {
			continue
		}
		if best.IsZero() || m.Created.Before(best) {
			best = m.Created
		}
	}
	return best, !best.IsZero()
}

// firstSMS is the first SMS to number whose body holds word, created after t0.
func (p *peers) firstSMS(number, word string, t0 time.Time) (time.Time, bool) {
	for _, m := range p.twilio.Messages() {
		if m.To == number && strings.Contains(m.Body, word) && !m.Created.Before(t0) {
			return m.Created, true
		}
	}
	return time.Time{}, false
}

// waitBoth waits for the e-mail and the SMS of one event; a missing one
// is reported as not ok.
func (p *peers) waitBoth(ctx context.Context, mailTo, number, word string, t0 time.Time, within time.Duration) (em, sm time.Time, ok bool) {
	deadline := time.Now().Add(within)
	var okE, okS bool
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if !okE {
			em, okE = p.firstMail(ctx, mailTo, word, t0)
		}
		if !okS {
			sm, okS = p.firstSMS(number, word, t0)
		}
		if okE && okS {
			return em, sm, true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return em, sm, false
}

// latencyConfig is a vedetta config with K UPS targets (each its own
// receiver, so per-number SMS throttling never links two trials), an
// on-battery rule with for: 0, e-mail to Mailpit and SMS to the Twilio
// server.
func latencyConfig(p *peers, agents []*upsAgent, interval string, trapPort int, o *options) string {
	var b strings.Builder
	b.WriteString("targets:\n")
	for i, a := range agents {
		fmt.Fprintf(&b, "  - {name: ups-%d, kind: snmp, class: ups, interval: %s, snmp: {address: \"%s\", community: %s, timeout: 1s}}\n",
			i, interval, a.addr(), o.community)
	}
	if trapPort > 0 {
		fmt.Fprintf(&b, "traps:\n  listen: 127.0.0.1:%d\n  communities: [%s]\n", trapPort, o.community)
	}
	b.WriteString(`rules:
  - name: UPSOnBattery
    expr: ups_on_battery == 1
    for: 0s
    severity: critical
    summary: "{{ .Labels.target }} is on battery"
`)
	// start_digest 0: the bench times single alarms from the first
	// seconds on; the digest would hold those of the first 45 s (issue 15).
	fmt.Fprintf(&b, `notify:
  start_digest: 0s
  email:
    from: vedetta@bench.example
    timeout: 5s
    relays:
      - {host: 127.0.0.1, port: %d, tls: none}
  sms:
    min_interval: 100ms
    failover_after: 5s
    providers:
      - name: twilio
        twilio: {account_sid: %s, auth_token: %s, from: "+15550001111", api_url: "%s", status_poll: 1s, status_timeout: 10s, timeout: 5s}
receivers:
`, p.mail.SMTPPort, p.twilio.AccountSID, p.twilio.AuthToken, p.twilio.URL())
	for i := range agents {
		fmt.Fprintf(&b, "  - {name: r%d, email: [ups-%d@bench.example], sms: [\"%s\"]}\n", i, i, phone(i))
	}
	b.WriteString("routes:\n")
	for i := range agents {
		fmt.Fprintf(&b, "  - {match: {target: ups-%d}, receivers: [r%d], channels: [email, sms]}\n", i, i)
	}
	return b.String()
}

func phone(i int) string { return fmt.Sprintf("+3900000%05d", i) }

// newUPSAgents starts n agents serving the UPS recording; with distinct,
// agent i listens on 127.0.0.(10+i) (a trap is attributed to a target by
// the sender's host, so each UPS needs its own address).
func newUPSAgents(o *options, n int, distinct bool) ([]*upsAgent, error) {
	pdus, err := readSnmprec(filepath.Join(o.snmprec, o.upsRec))
	if err != nil {
		return nil, err
	}
	var out []*upsAgent
	for i := 0; i < n; i++ {
		ip := net.IPv4(127, 0, 0, 1)
		if distinct {
			ip = net.IPv4(127, 0, byte((10+i)/250), byte(10+(10+i)%250))
		}
		a, err := newUPSAgent(ip, pdus, o.community)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// alarmLatency measures o.trials on-battery events, one per UPS target
// (the same alarm firing and resolving again and again would be held
// back as flapping, by design). trap: the trials run one after the other,
// each UPS sending upsTrapOnBattery from its own address at the change,
// targets polled every 60 s otherwise. poll: no trap, interval
// o.latencyInterval, the changes at random moments spread over a minute.
func alarmLatency(ctx context.Context, o *options, p *peers, trap bool) latencyResult {
	res := latencyResult{name: "poll"}
	if trap {
		res.name = "trap"
	}
	agents, err := newUPSAgents(o, o.trials, trap)
	defer func() {
		for _, a := range agents {
			a.close()
		}
	}()
	if err != nil {
		res.note = err.Error()
		return res
	}
	iv, trapPort := o.latencyInterval, 0
	if trap {
		iv, trapPort = time.Minute, freeUDPPort()
	}
	d, err := startVedetta(ctx, o, res.name+"-latency", latencyConfig(p, agents, iv.String(), trapPort, o))
	if err != nil {
		res.note = firstLine(err.Error())
		return res
	}
	defer d.p.stop()
	var mu sync.Mutex
	trial := func(i int, a *upsAgent) {
		a.onBattery.Store(true)
		t0 := time.Now()
		if trap {
			dst := fmt.Sprintf("127.0.0.1:%d", trapPort)
			if err := sendTrap(a.conn.LocalAddr().(*net.UDPAddr).IP, dst, o.community, ".1.3.6.1.2.1.33.2.0.1"); err != nil {
				slog.Warn("trap", "err", err)
			}
		}
		em, sm, ok := p.waitBoth(ctx, fmt.Sprintf("ups-%d@bench.example", i), phone(i), "FIRING", t0, iv+15*time.Second)
		mu.Lock()
		defer mu.Unlock()
		res.trials++
		if !ok {
			res.lost++
			return
		}
		res.email, res.sms = append(res.email, em.Sub(t0)), append(res.sms, sm.Sub(t0))
	}
	if trap {
		_ = sleepCtx(ctx, 3*time.Second) // every first poll (and profile detection) done
		for i, a := range agents {
			if sleepCtx(ctx, time.Duration(200+rand.IntN(800))*time.Millisecond) != nil {
				break
			}
			trial(i, a)
		}
		res.note = "one UPS target per trial (own 127.0.0.x address), trials one after the other"
		return res
	}
	_ = sleepCtx(ctx, iv+time.Second)
	spread := max(time.Minute, 3*iv)
	if o.smoke {
		spread = 2 * iv
	}
	var wg sync.WaitGroup
	for i, a := range agents {
		wg.Go(func() {
			if sleepCtx(ctx, time.Duration(rand.Int64N(int64(spread)))) == nil {
				trial(i, a)
			}
		})
	}
	wg.Wait()
	res.note = fmt.Sprintf("interval %v; one UPS target per trial, changes at random moments over %v", iv, spread)
	return res
}

func freeUDPPort() int {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return 0
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// alertmanagerLatency posts o.trials alerts (each its own group, posted at
// random moments over 10 s) to Alertmanager's API and times each to the
// SMTP DATA at the same Mailpit.
func alertmanagerLatency(ctx context.Context, o *options, p *peers, groupWait string) latencyResult {
	name := "alertmanager (defaults: group_wait 30s)"
	tag := "D"
	if groupWait != "" {
		name, tag = "alertmanager (group_wait: "+groupWait+")", "F"
	}
	res := latencyResult{name: name}
	if o.tools.alertmanager == "" {
		res.note = o.tools.amWhy
		return res
	}
	dir, err := os.MkdirTemp(o.work, "alertmanager-")
	if err != nil {
		res.note = err.Error()
		return res
	}
	gw := ""
	if groupWait != "" {
		gw = "  group_wait: " + groupWait + "\n"
	}
	cfg := fmt.Sprintf(`global:
  smtp_smarthost: 127.0.0.1:%d
  smtp_from: alertmanager@bench.example
  smtp_require_tls: false
route:
  receiver: mail
  group_by: [alertname]
%sreceivers:
  - name: mail
    email_configs:
      - {to: am@bench.example, send_resolved: false}
`, p.mail.SMTPPort, gw)
	if err := os.WriteFile(filepath.Join(dir, "am.yml"), []byte(cfg), 0o644); err != nil {
		res.note = err.Error()
		return res
	}
	port := freeTCPPort()
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	am, err := startProc(ctx, dir, nil, o.tools.alertmanager, "--config.file=am.yml", "--storage.path="+filepath.Join(dir, "data"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port), "--cluster.listen-address=", "--log.level=warn")
	if err != nil {
		res.note = err.Error()
		return res
	}
	defer am.stop()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if r, err := http.Get(url + "/-/ready"); err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				break
			}
		}
		if am.exited() || time.Now().After(deadline) {
			res.note = "did not start: " + firstLine(tail(am.output(), 300))
			return res
		}
	}
	sent := make([]time.Time, o.trials)
	var wg sync.WaitGroup
	for i := range sent {
		wg.Go(func() {
			_ = sleepCtx(ctx, time.Duration(rand.Int64N(int64(10*time.Second))))
			body := fmt.Sprintf(`[{"labels":{"alertname":"BenchAlert%s%03d","severity":"critical"},"annotations":{"summary":"ups on battery"}}]`, tag, i)
			sent[i] = time.Now()
			if r, err := http.Post(url+"/api/v2/alerts", "application/json", strings.NewReader(body)); err == nil {
				r.Body.Close()
			} else {
				slog.Warn("alertmanager post", "err", err)
			}
		})
	}
	wg.Wait()
	res.trials = o.trials
	deadline := time.Now().Add(2 * time.Minute)
	for ctx.Err() == nil {
		ms, _ := p.mails(ctx)
		got := map[int]time.Time{}
		for _, m := range ms {
			k := strings.Index(m.Subject, "BenchAlert"+tag)
			if k < 0 {
				continue
			}
			var i int
			if n, _ := fmt.Sscanf(m.Subject[k+len("BenchAlert"+tag):], "%03d", &i); n == 1 && i >= 0 && i < o.trials {
				got[i] = m.Created
			}
		}
		if len(got) == o.trials || time.Now().After(deadline) {
			for i, t := range got {
				res.email = append(res.email, t.Sub(sent[i]))
			}
			res.lost = o.trials - len(got)
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	res.note = "group_by: [alertname] so each trial is its own group; e-mail only"
	return res
}

// pct is the nearest-rank percentile q (0..1) of ds.
func pct(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return -1
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(q*float64(len(s))+0.999999) - 1
	return s[max(0, min(i, len(s)-1))]
}
