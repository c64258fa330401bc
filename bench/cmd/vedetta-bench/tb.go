package main

import (
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
)

// benchTB lets the benchmark start the same peers as the tests
// (internal/testpeer: Mailpit, the Twilio-speaking server) outside a test.
// Only the methods testpeer calls are implemented; the embedded nil
// testing.TB is never reached. Fatal* panics with tbFatal, which
// withPeers turns back into an error.
type benchTB struct {
	testing.TB
	mu       sync.Mutex
	cleanups []func()
	dirs     []string
}

type tbFatal struct{ msg string }

func (t *benchTB) Helper()                         {}
func (t *benchTB) Name() string                    { return "vedetta-bench" }
func (t *benchTB) Failed() bool                    { return false }
func (t *benchTB) Logf(format string, args ...any) { slog.Debug(fmt.Sprintf(format, args...)) }
func (t *benchTB) Log(args ...any)                 { slog.Debug(fmt.Sprint(args...)) }
func (t *benchTB) Errorf(format string, args ...any) {
	panic(tbFatal{fmt.Sprintf(format, args...)})
}
func (t *benchTB) Fatalf(format string, args ...any) { panic(tbFatal{fmt.Sprintf(format, args...)}) }
func (t *benchTB) Fatal(args ...any)                 { panic(tbFatal{fmt.Sprint(args...)}) }
func (t *benchTB) Skipf(format string, args ...any)  { panic(tbFatal{fmt.Sprintf(format, args...)}) }
func (t *benchTB) Skip(args ...any)                  { panic(tbFatal{fmt.Sprint(args...)}) }

func (t *benchTB) Cleanup(f func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cleanups = append(t.cleanups, f)
}

func (t *benchTB) TempDir() string {
	d, err := os.MkdirTemp("", "vedetta-bench-peer")
	if err != nil {
		t.Fatal(err)
	}
	t.mu.Lock()
	t.dirs = append(t.dirs, d)
	t.mu.Unlock()
	return d
}

// close runs the cleanups, last first, and removes the temporary folders.
func (t *benchTB) close() {
	t.mu.Lock()
	cs, ds := t.cleanups, t.dirs
	t.cleanups, t.dirs = nil, nil
	t.mu.Unlock()
	for i := len(cs) - 1; i >= 0; i-- {
		cs[i]()
	}
	for _, d := range ds {
		_ = os.RemoveAll(d)
	}
}

// try runs f, turning a testpeer failure into an error.
func try(f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if tf, ok := r.(tbFatal); ok {
				err = fmt.Errorf("%s", tf.msg)
				return
			}
			panic(r)
		}
	}()
	f()
	return nil
}
