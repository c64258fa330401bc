package authlog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// maxRead bounds what one round reads, so that a huge backlog (or a log
// flooded on purpose) is spread over several rounds instead of one that
// never ends.
const maxRead = 32 << 20

// maxLineLen: longer lines are cut (and still parsed from their start).
const maxLineLen = 16 << 10

// tailer follows a file like `tail -F`: across rename-and-create rotation
// (the old file is read to its end first) and truncation (copytruncate).
type tailer struct {
	path    string
	f       *os.File
	ino     uint64
	dev     uint64
	off     int64
	partial []byte
	started bool
	// FromStart reads an existing file from its beginning at the first
	// round; otherwise only lines written after the first round count.
	fromStart bool
	rotations int
}

func fileID(fi fs.FileInfo) (dev, ino uint64) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Dev), st.Ino
	}
	return 0, 0
}

// poll calls line for every complete new line.
func (t *tailer) poll(line func(string)) error {
	if t.f == nil {
		if err := t.open(!t.started && !t.fromStart); err != nil {
			return err
		}
		t.started = true
	}
	budget := int64(maxRead)
	if err := t.drain(line, &budget); err != nil {
		return err
	}
	fi, err := os.Stat(t.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // rotated, the new file is not there yet: keep the old one
	}
	if err != nil {
		return err
	}
	dev, ino := fileID(fi)
	switch {
	case dev != t.dev || ino != t.ino:
		// Rotated: the old file was read to its end above; whatever is
		// left without a newline is a complete last line.
		t.flushPartial(line)
		t.f.Close()
		t.f = nil
		t.rotations++
		if err := t.open(false); err != nil {
			return err
		}
		return t.drain(line, &budget)
	case fi.Size() < t.off:
		// Truncated in place (copytruncate): start over.
		t.partial = t.partial[:0]
		if _, err := t.f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		t.off = 0
		t.rotations++
		return t.drain(line, &budget)
	}
	return nil
}

func (t *tailer) open(atEnd bool) error {
	f, err := os.Open(t.path)
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return fmt.Errorf("%s is not a regular file", t.path)
	}
	t.dev, t.ino = fileID(fi)
	t.off = 0
	t.partial = t.partial[:0]
	if atEnd {
		if t.off, err = f.Seek(0, io.SeekEnd); err != nil {
			f.Close()
			return err
		}
	}
	t.f = f
	return nil
}

func (t *tailer) drain(line func(string), budget *int64) error {
	buf := make([]byte, 64<<10)
	for *budget > 0 {
		n, err := t.f.Read(buf)
		if n > 0 {
			t.off += int64(n)
			*budget -= int64(n)
			t.split(buf[:n], line)
		}
		if err == io.EOF || n == 0 {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (t *tailer) split(b []byte, line func(string)) {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			if len(t.partial) < maxLineLen {
				t.partial = append(t.partial, b[:min(len(b), maxLineLen-len(t.partial))]...)
			}
			return
		}
		if len(t.partial) > 0 {
			if len(t.partial) < maxLineLen {
				t.partial = append(t.partial, b[:min(i, maxLineLen-len(t.partial))]...)
			}
			line(string(t.partial))
			t.partial = t.partial[:0]
		} else {
			line(string(b[:min(i, maxLineLen)]))
		}
		b = b[i+1:]
	}
}

func (t *tailer) flushPartial(line func(string)) {
	if len(t.partial) > 0 {
		line(string(t.partial))
		t.partial = t.partial[:0]
	}
}

func (t *tailer) close() {
	if t.f != nil {
		t.f.Close()
		t.f = nil
	}
}

// Follower follows a log file across rotation and truncation, for other
// collectors that read logs (mailqueue's mail log).
type Follower struct{ t tailer }

// NewFollower follows path; fromStart also reads what it holds at the
// first Poll, otherwise only what is written after it.
func NewFollower(path string, fromStart bool) *Follower {
	return &Follower{t: tailer{path: path, fromStart: fromStart}}
}

// Poll calls line for every complete line written since the last Poll.
func (f *Follower) Poll(line func(string)) error { return f.t.poll(line) }

// Rotations counts the rotations and truncations seen.
func (f *Follower) Rotations() int { return f.t.rotations }

// Close releases the open file.
func (f *Follower) Close() { f.t.close() }
