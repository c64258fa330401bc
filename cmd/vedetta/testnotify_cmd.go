package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"github.com/vedetta-dc/vedetta/dispatch"
	"github.com/vedetta-dc/vedetta/model"
	"github.com/vedetta-dc/vedetta/notify"
	"github.com/vedetta-dc/vedetta/notify/twilio"
)

// testNotifyCmd sends a test message to one receiver through every
// provider of every channel it has, one by one, and prints what happened:
// a backup path that does not work is found before an incident needs it.
func testNotifyCmd(v *viper.Viper) *cobra.Command {
	var receiver string
	c := &cobra.Command{
		Use:   "test-notify --receiver NAME",
		Short: "Send a test notification through every channel and provider of a receiver",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(v)
			if err != nil {
				return err
			}
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			chans, errs := buildChannels(cfg, newSMSKinds(), log)
			if len(errs) > 0 {
				return errs[0]
			}
			var rc *struct{ email, sms, voice, hooks []string }
			for _, r := range cfg.Receivers {
				if r.Name == receiver {
					rc = &struct{ email, sms, voice, hooks []string }{r.Email, r.SMS, r.Voice, r.Webhooks}
				}
			}
			if rc == nil {
				return fmt.Errorf("no receiver named %q in %s", receiver, cfg.File)
			}
			now := time.Now()
			a := model.Alarm{ID: "test" + now.Format("150405"), Rule: "TestNotification", Severity: "info", Site: cfg.Site,
				Labels: map[string]string{"target": "vedetta"}, State: model.StateFiring, ActiveAt: now, FiringAt: now,
				Summary: "test notification from vedetta test-notify; no action needed"}
			provs := providers(chans)
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 4, 2, ' ', 0)
			fmt.Fprintln(w, "CHANNEL\tPROVIDER\tRECIPIENT\tRESULT\tTIME")
			failed := 0
			try := func(ch string, p notify.Provider, to string) {
				m := notify.Message{Key: fmt.Sprintf("%s/%s/%s/%s", a.ID, ch, p.Name(), to), AlarmID: a.ID, Event: "test",
					Severity: a.Severity, Recipient: to, Subject: dispatch.Subject(a, model.EventTest), Body: dispatch.Body(a, model.EventTest)}
				ctx, cancel := context.WithTimeout(cmd.Context(), 2*time.Minute)
				start := time.Now()
				err := p.Send(ctx, m)
				cancel()
				res := "ok"
				if err != nil {
					failed++
					res = "FAILED: " + err.Error()
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%v\n", ch, p.Name(), to, res, time.Since(start).Round(time.Millisecond))
			}
			// Voice: the call succeeds once answered (the key goes to the
			// daemon's webhook, if one runs, and does nothing there).
			for _, v := range provs["voice"] {
				if tv, ok := v.(*twilio.Voice); ok {
					tv.SetExternalURL(cfg.HTTP.ExternalURL)
				}
			}
			for ch, list := range map[string][]string{"email": rc.email, "sms": rc.sms, "voice": rc.voice} {
				for _, to := range list {
					if len(provs[ch]) == 0 {
						failed++
						fmt.Fprintf(w, "%s\t-\t%s\tFAILED: channel not configured\t\n", ch, to)
					}
					for _, p := range provs[ch] {
						try(ch, p, to)
					}
				}
			}
			for _, h := range rc.hooks {
				for _, p := range provs["webhook"] {
					if p.Name() == h {
						try("webhook", p, h)
					}
				}
			}
			_ = w.Flush()
			if failed > 0 {
				return fmt.Errorf("%d test(s) failed", failed)
			}
			return nil
		},
	}
	c.Flags().StringVar(&receiver, "receiver", "", "receiver name")
	_ = c.MarkFlagRequired("receiver")
	return c
}
