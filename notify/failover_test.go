package notify

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

// fakeProv is a provider whose Send takes the message (with an id, as
// Twilio does) when take is set, then returns sendErr; followErr is what
// Follow answers.
type fakeProv struct {
	name      string
	take      bool
	hold      time.Duration // following the taken message this long
	sendErr   error
	followErr error
	sends     int
	follows   []string
}

func (p *fakeProv) Name() string { return p.name }

func (p *fakeProv) Send(ctx context.Context, m Message) error {
	p.sends++
	if p.take {
		AcceptedAs(ctx, "SM-"+p.name)
		select {
		case <-time.After(p.hold):
		case <-ctx.Done():
			return Temporary(context.Cause(ctx))
		}
	}
	return p.sendErr
}

func TestFailoverTakenMessages(t *testing.T) {
	undelivered := Permanent(errors.New("undelivered"))
	down := Temporary(errors.New("503"))
	type want struct {
		provider string
		err      string   // "", "permanent", "temporary"
		told     []string // what the caller's OnAccepted hook heard: "name/ref" or "not taken"
		sends    []int    // per provider
		follows  []int
	}
	cases := []struct {
		name  string
		provs func() []*fakeProv
		// followers: which providers are Followers (by index)
		followers []int
		taken     *Taken
		after     time.Duration
		want      want
	}{
		{"a follower takes and delivers", func() []*fakeProv { return []*fakeProv{{name: "twilio", take: true}, {name: "modem"}} },
			[]int{0}, nil, 0, want{"twilio", "", []string{"twilio/SM-twilio"}, []int{1, 0}, []int{0, 0}}},
		{"bounded: the take stops failover_after", func() []*fakeProv {
			return []*fakeProv{{name: "twilio", take: true, hold: 100 * time.Millisecond}, {name: "modem"}}
		}, []int{0}, nil, 20 * time.Millisecond, want{"twilio", "", []string{"twilio/SM-twilio"}, []int{1, 0}, []int{0, 0}}},
		{"taken, then undelivered: not taken after all, next provider", func() []*fakeProv {
			return []*fakeProv{{name: "twilio", take: true, sendErr: undelivered}, {name: "modem"}}
		}, []int{0}, nil, 0, want{"modem", "", []string{"twilio/SM-twilio", "not taken"}, []int{1, 1}, []int{0, 0}}},
		{"a provider that cannot be asked later is not told", func() []*fakeProv { return []*fakeProv{{name: "voice", take: true}} },
			nil, nil, 0, want{"voice", "", nil, []int{1}, []int{0}}},
		{"taken before and delivered: asked, not sent again", func() []*fakeProv { return []*fakeProv{{name: "twilio"}, {name: "modem"}} },
			[]int{0}, &Taken{"twilio", "SM1"}, 0, want{"twilio", "", nil, []int{0, 0}, []int{1, 0}}},
		{"taken before, undelivered: the others send it", func() []*fakeProv {
			return []*fakeProv{{name: "twilio", followErr: undelivered}, {name: "modem"}}
		}, []int{0}, &Taken{"twilio", "SM1"}, 0, want{"modem", "", []string{"not taken"}, []int{0, 1}, []int{1, 0}}},
		{"taken before, cannot ask, the others fail: try again later, not sent there again", func() []*fakeProv {
			return []*fakeProv{{name: "twilio", followErr: down}, {name: "modem", sendErr: down}}
		}, []int{0}, &Taken{"twilio", "SM1"}, 0, want{"", "temporary", []string{"not taken"}, []int{0, 1}, []int{1, 0}}},
		{"taken before, undelivered, the only provider: failed as a refusal", func() []*fakeProv {
			return []*fakeProv{{name: "twilio", followErr: undelivered}}
		}, []int{0}, &Taken{"twilio", "SM1"}, 0, want{"", "permanent", []string{"not taken"}, []int{0}, []int{1}}},
		{"taken by a provider no longer configured: sent as new", func() []*fakeProv { return []*fakeProv{{name: "modem"}} },
			nil, &Taken{"twilio", "SM1"}, 0, want{"modem", "", nil, []int{1}, []int{0}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fps := c.provs()
			var ps []Provider
			for i, p := range fps {
				if slices.Contains(c.followers, i) {
					f := &followRec{fakeProv: p}
					ps = append(ps, f)
					continue
				}
				ps = append(ps, p)
			}
			f := &Failover{Channel: "sms", Providers: ps, FailoverAfter: c.after}
			var told []string
			ctx := OnAccepted(context.Background(), func(tk *Taken) {
				if tk == nil {
					told = append(told, "not taken")
					return
				}
				told = append(told, tk.Provider+"/"+tk.Ref)
			})
			got, err := f.Notify(ctx, Message{Key: "k1", Recipient: "+390001", Taken: c.taken})
			kind := ""
			switch {
			case err == nil:
			case IsPermanent(err):
				kind = "permanent"
			default:
				kind = "temporary"
			}
			if got != c.want.provider || kind != c.want.err {
				t.Errorf("Notify = %q, %v; want %q, %s", got, err, c.want.provider, c.want.err)
			}
			if !slices.Equal(told, c.want.told) {
				t.Errorf("hook told %q, want %q", told, c.want.told)
			}
			for i, p := range fps {
				if p.sends != c.want.sends[i] || len(p.follows) != c.want.follows[i] {
					t.Errorf("%s: %d sends, %d follows; want %d, %d", p.name, p.sends, len(p.follows), c.want.sends[i], c.want.follows[i])
				}
			}
		})
	}
}

// followRec records the refs it is asked about in its fakeProv.
type followRec struct{ *fakeProv }

func (p *followRec) Follow(ctx context.Context, m Message, ref string) error {
	p.follows = append(p.follows, ref)
	if ref == "" {
		return fmt.Errorf("no ref")
	}
	return p.followErr
}
