package mailqueue

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/vedetta-dc/vedetta/collectors"
	"github.com/vedetta-dc/vedetta/collectors/authlog"
	"github.com/vedetta-dc/vedetta/internal/config"
	"github.com/vedetta-dc/vedetta/model"
)

// Options is the `mailqueue:` block of a target.
type Options struct {
	// Postqueue is Postfix's postqueue (default /usr/sbin/postqueue when
	// exim is not set); it is run as `postqueue -j`.
	Postqueue string `yaml:"postqueue"`
	// ConfigDir selects a Postfix instance (`postqueue -c DIR -j`).
	ConfigDir string `yaml:"config_dir"`
	// Exim, when set, is run as `exim -bpc` (queue size only) instead.
	Exim string `yaml:"exim"`
	// Maillog is the MTA's log (e.g. /var/log/mail.log) for mail_sent_total;
	// optional.
	Maillog string `yaml:"maillog"`
	// TopSenders is how many senders are exported (default 5, at most 20).
	TopSenders int `yaml:"top_senders"`
}

type options struct {
	Mailqueue Options `yaml:"mailqueue"`
}

// Collector reads the queue each round and follows the mail log.
type Collector struct {
	opts   Options
	log    *slog.Logger
	now    func() time.Time
	follow *authlog.Follower
	counts map[string]float64 // status -> total, from the mail log
}

// New validates the options; it runs nothing.
func New(spec collectors.Spec, decode collectors.Decode) (collectors.Collector, error) {
	var o options
	if err := decode(&o); err != nil {
		return nil, err
	}
	opts := o.Mailqueue
	if opts.Postqueue != "" && opts.Exim != "" {
		return nil, config.Problem("mailqueue", "give postqueue or exim, not both")
	}
	if opts.Postqueue == "" && opts.Exim == "" {
		opts.Postqueue = "/usr/sbin/postqueue"
	}
	if opts.TopSenders == 0 {
		opts.TopSenders = 5
	}
	if opts.TopSenders < 1 || opts.TopSenders > 20 {
		return nil, fmt.Errorf("mailqueue.top_senders must be between 1 and 20, got %d", opts.TopSenders)
	}
	c := &Collector{opts: opts, now: time.Now, counts: map[string]float64{"sent": 0, "deferred": 0, "bounced": 0}}
	if opts.Maillog != "" {
		p := opts.Maillog
		if !filepath.IsAbs(p) {
			p = filepath.Join(spec.BaseDir, p)
		}
		c.follow = authlog.NewFollower(p, false)
	}
	log := spec.Logger
	if log == nil {
		log = slog.Default()
	}
	c.log = log
	return c, nil
}

// Queues are Postfix's queues, always emitted so that rules see zeros.
var Queues = []string{"maildrop", "incoming", "active", "deferred", "hold"}

// Message is one queue file as `postqueue -j` prints it (Postfix ≥ 3.1).
type Message struct {
	QueueName   string `json:"queue_name"`
	QueueID     string `json:"queue_id"`
	ArrivalTime int64  `json:"arrival_time"`
	MessageSize int64  `json:"message_size"`
	Sender      string `json:"sender"`
	Recipients  []struct {
		Address     string `json:"address"`
		DelayReason string `json:"delay_reason"`
	} `json:"recipients"`
}

// ParsePostqueue reads `postqueue -j` output: one JSON object per line.
// Unknown members are ignored (Postfix adds some over time); a message
// listed twice (the queue moves while it is listed) counts once, in the
// queue it was seen in last. A line that is not an object is an error; the
// messages before it are returned.
func ParsePostqueue(r io.Reader) ([]Message, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	byID := map[string]int{}
	var out []Message
	n := 0
	for sc.Scan() {
		n++
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var m Message
		if err := json.Unmarshal(line, &m); err != nil {
			return out, fmt.Errorf("postqueue -j line %d: %v", n, err)
		}
		if m.QueueName == "" || m.QueueID == "" {
			return out, fmt.Errorf("postqueue -j line %d: no queue_name or queue_id", n)
		}
		if i, dup := byID[m.QueueID]; dup {
			out[i] = m
			continue
		}
		byID[m.QueueID] = len(out)
		out = append(out, m)
	}
	return out, sc.Err()
}

func (c *Collector) run(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.WaitDelay = 2 * time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s: %w", name, ctx.Err())
		}
		return out, fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// Collect lists the queue and reads the new mail log lines.
func (c *Collector) Collect(ctx context.Context, emit func(model.Sample)) error {
	var errs []error
	if c.opts.Exim != "" {
		if err := c.collectExim(ctx, emit); err != nil {
			errs = append(errs, err)
		}
	} else if err := c.collectPostfix(ctx, emit); err != nil {
		errs = append(errs, err)
	}
	if c.follow != nil {
		if err := c.follow.Poll(c.logLine); err != nil {
			errs = append(errs, err)
		}
		for _, st := range []string{"sent", "deferred", "bounced"} {
			emit(model.Sample{Name: "mail_" + st + "_total", Value: c.counts[st]})
		}
	}
	return errors.Join(errs...)
}

func (c *Collector) collectExim(ctx context.Context, emit func(model.Sample)) error {
	out, err := c.run(ctx, c.opts.Exim, "-bpc")
	if err != nil {
		return err
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil || n < 0 {
		return fmt.Errorf("exim -bpc: not a count: %q", strings.TrimSpace(string(out)))
	}
	emit(model.Sample{Name: "mail_queue_messages", Labels: model.L("queue", "exim"), Value: float64(n)})
	return nil
}

func (c *Collector) collectPostfix(ctx context.Context, emit func(model.Sample)) error {
	args := []string{"-j"}
	if c.opts.ConfigDir != "" {
		args = []string{"-c", c.opts.ConfigDir, "-j"}
	}
	out, err := c.run(ctx, c.opts.Postqueue, args...)
	if err != nil {
		return err // mail system down: no made-up zeros
	}
	msgs, perr := ParsePostqueue(bytes.NewReader(out))
	for _, s := range Samples(msgs, c.now(), c.opts.TopSenders) {
		emit(s)
	}
	return perr
}

// Samples summarizes a queue listing.
func Samples(msgs []Message, now time.Time, topN int) []model.Sample {
	count := map[string]float64{}
	size := map[string]float64{}
	senders := map[string]int{}
	var oldest int64
	for _, m := range msgs {
		count[m.QueueName]++
		size[m.QueueName] += float64(m.MessageSize)
		if m.ArrivalTime > 0 && (oldest == 0 || m.ArrivalTime < oldest) {
			oldest = m.ArrivalTime
		}
		s := m.Sender
		if s == "" {
			s = "<>" // bounces
		}
		if len(s) > 128 {
			s = strings.ToValidUTF8(s[:128], "")
		}
		senders[s]++
	}
	var out []model.Sample
	queues := append([]string(nil), Queues...)
	for q := range count {
		if !contains(queues, q) {
			queues = append(queues, q) // a queue name from a future Postfix
		}
	}
	for _, q := range queues {
		out = append(out, model.Sample{Name: "mail_queue_messages", Labels: model.L("queue", q), Value: count[q]})
		out = append(out, model.Sample{Name: "mail_queue_bytes", Labels: model.L("queue", q), Value: size[q]})
	}
	age := 0.0
	if oldest > 0 {
		age = max(now.Sub(time.Unix(oldest, 0)).Seconds(), 0)
	}
	out = append(out, model.Sample{Name: "mail_queue_oldest_seconds", Value: age})
	top := collectors.Ranked(senders)
	for i, t := range top {
		if i >= topN {
			break
		}
		out = append(out, model.Sample{Name: "mail_queue_top_senders", Labels: model.L("sender", t.Key), Value: float64(t.N)})
	}
	if len(top) > 0 {
		out = append(out, model.Sample{Name: "mail_queue_top_sender", Labels: model.L("sender", top[0].Key), Value: float64(top[0].N)})
	}
	return out
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// deliveryRe matches Postfix's delivery lines (also of named instances,
// postfix-out/smtp): "QUEUEID: to=<...>, ..., status=sent (...)". Sent
// counts the smtp client only (outbound); deferred and bounced also count
// the error agent, which defers mail for a destination already known dead.
var deliveryRe = regexp.MustCompile(`\spostfix(?:-[\w.-]+)?/(smtp|error)\[\d+\]: [0-9A-Za-z]+: to=<[^>]*>,.* status=(sent|deferred|bounced) `)

func (c *Collector) logLine(line string) {
	m := deliveryRe.FindStringSubmatch(line)
	if m == nil || m[2] == "sent" && m[1] != "smtp" {
		return
	}
	c.counts[m[2]]++
}
