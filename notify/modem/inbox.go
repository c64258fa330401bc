package modem

import (
	"context"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/vedetta-dc/vedetta/notify"
)

// Replies by SMS to the modem's number: the modem announces a message with
// +CMTI (3GPP TS 27.005) while its port is open; Listen then lists the
// SIM's messages (AT+CMGL in text mode), hands each to the daemon, sends
// back its answer and deletes the message (AT+CMGD). A listing every
// minute catches messages announced while the port was closed (after a
// hang, before the first use).

// Incoming is a message the modem received.
type Incoming struct {
	Index int    // its place on the SIM
	From  string // the sender's number, as the network gave it
	Text  string
}

// DefaultListenEvery is how often Listen lists the SIM without a notice.
const DefaultListenEvery = time.Minute

// EnableReplies makes every SMS say how to acknowledge it by a reply
// ("... [4a7b1c2d3e] Reply 4a7b ACK"): the daemon does so when it reads
// this modem's replies.
func (p *Provider) EnableReplies(on bool) { p.replies.Store(on) }

// Listen reads incoming messages until ctx ends: at once, on every +CMTI
// notice, and every `every`. handle gets each message and returns the
// answer to send back to its sender ("" for none); the message is then
// deleted from the SIM, answered or not, so that it is acted on once.
func (p *Provider) Listen(ctx context.Context, every time.Duration, handle func(context.Context, Incoming) string) {
	if every <= 0 {
		every = DefaultListenEvery
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		msgs, err := p.inbox(ctx)
		if err != nil && ctx.Err() == nil {
			p.log.Warn("modem: cannot read incoming messages", "err", err)
		}
		for _, m := range msgs {
			answer := handle(ctx, m)
			if answer != "" {
				if err := p.Send(ctx, notify.Message{Recipient: m.From, Subject: answer}); err != nil {
					p.log.Warn("modem: answer to a reply not sent", "to", m.From, "err", err)
				}
			}
			if err := p.remove(ctx, m.Index); err != nil {
				p.log.Warn("modem: incoming message not deleted: it may be read again", "index", m.Index, "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-p.incoming:
		case <-t.C:
		}
	}
}

// inbox lists every message on the SIM, in text mode and the IRA
// character set (the sender and the text then come as they are; a modem
// left in UCS-2 would give them in hex).
func (p *Provider) inbox(ctx context.Context) ([]Incoming, error) {
	if err := p.lock(ctx); err != nil {
		return nil, err
	}
	defer p.unlock()
	if err := p.open(ctx); err != nil {
		return nil, err
	}
	if _, err := p.do(ctx, "AT+CMGF=1", ""); err != nil {
		return nil, temporary(err)
	}
	ucs2 := false
	if _, err := p.do(ctx, `AT+CSCS="IRA"`, ""); err != nil {
		if p.c == nil { // the session was lost, not a refusal
			return nil, temporary(err)
		}
		if _, err := p.do(ctx, `AT+CSCS="UCS2"`, ""); err != nil {
			return nil, temporary(err)
		}
		ucs2 = true
	}
	lines, err := p.do(ctx, `AT+CMGL="ALL"`, allLines)
	if err != nil {
		return nil, temporary(err)
	}
	msgs := parseList(lines)
	if ucs2 {
		for i := range msgs {
			msgs[i].From, msgs[i].Text = fromUCS2(msgs[i].From), fromUCS2(msgs[i].Text)
		}
	}
	return msgs, nil
}

func (p *Provider) remove(ctx context.Context, index int) error {
	if err := p.lock(ctx); err != nil {
		return err
	}
	defer p.unlock()
	if err := p.open(ctx); err != nil {
		return err
	}
	_, err := p.do(ctx, "AT+CMGD="+strconv.Itoa(index), "")
	return err
}

// parseList reads an AT+CMGL answer in text mode: a header per message,
// `+CMGL: <index>,<stat>,<oa>,[<alpha>],[<scts>]`, then its text on the
// lines up to the next header. Headers that do not parse are skipped with
// their text.
func parseList(lines []string) []Incoming {
	var out []Incoming
	cur := -1
	for _, l := range lines {
		if rest, ok := strings.CutPrefix(l, "+CMGL:"); ok {
			cur = -1
			f := splitFields(rest)
			if len(f) < 3 {
				continue
			}
			idx, err := strconv.Atoi(f[0])
			if err != nil || idx < 0 {
				continue
			}
			out = append(out, Incoming{Index: idx, From: f[2]})
			cur = len(out) - 1
			continue
		}
		if cur < 0 {
			continue
		}
		if out[cur].Text != "" {
			out[cur].Text += "\n"
		}
		out[cur].Text += l
	}
	return out
}

// splitFields splits a comma-separated parameter list, honouring quotes
// (a sender name may hold a comma), and unquotes each field.
func splitFields(s string) []string {
	var out []string
	var b strings.Builder
	quoted := false
	for _, r := range s {
		switch {
		case r == '"':
			quoted = !quoted
		case r == ',' && !quoted:
			out = append(out, strings.TrimSpace(b.String()))
			b.Reset()
		default:
			b.WriteRune(r)
		}
	}
	return append(out, strings.TrimSpace(b.String()))
}

// fromUCS2 decodes a hex UCS-2 string (AT+CSCS="UCS2"); what is not
// such a string is returned as it is.
func fromUCS2(s string) string {
	b, err := hex.DecodeString(s)
	if err != nil || len(b)%2 != 0 {
		return s
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
	}
	return string(utf16.Decode(u))
}
