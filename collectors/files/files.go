package files

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vedetta-dc/vedetta/collectors"
	"github.com/vedetta-dc/vedetta/model"
)

// Options is the `files:` block of a target.
type Options struct {
	// Glob selects the files (filepath.Match syntax: *, ?, [a-z]); relative
	// to the config file's folder unless absolute. Directories never count.
	Glob string `yaml:"glob"`
}

type options struct {
	Files Options `yaml:"files"`
}

// Collector measures the files matching one glob.
type Collector struct {
	glob string
	now  func() time.Time
}

// New validates the glob; it does not look at the files.
func New(spec collectors.Spec, decode collectors.Decode) (collectors.Collector, error) {
	var c options
	if err := decode(&c); err != nil {
		return nil, err
	}
	g := c.Files.Glob
	if g == "" {
		return nil, errors.New("files.glob is required")
	}
	if !filepath.IsAbs(g) {
		g = filepath.Join(spec.BaseDir, g)
	}
	if _, err := filepath.Match(g, ""); err != nil {
		return nil, fmt.Errorf("files.glob %q: %v", c.Files.Glob, err)
	}
	return &Collector{glob: g, now: time.Now}, nil
}

// staticDir is the longest leading directory of the glob without
// metacharacters: if it cannot be read, "no file" would be a lie.
func staticDir(glob string) string {
	dir := filepath.Dir(glob)
	for strings.ContainsAny(dir, `*?[\`) {
		dir = filepath.Dir(dir)
	}
	return dir
}

// Collect emits files_count, files_bytes and, when at least one file
// matches, the newest and oldest ages.
func (c *Collector) Collect(ctx context.Context, emit func(model.Sample)) error {
	now := c.now()
	var readErr error
	if _, err := os.ReadDir(staticDir(c.glob)); err != nil {
		readErr = err
	}
	matches, err := filepath.Glob(c.glob)
	if err != nil {
		return err
	}
	var count, total, newestSize float64
	var newest, oldest time.Time
	for i, m := range matches {
		if i%256 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		fi, err := os.Stat(m)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // removed since the glob: rotation at work
			}
			if readErr == nil {
				readErr = err
			}
			continue
		}
		if fi.IsDir() {
			continue
		}
		count++
		total += float64(fi.Size())
		mt := fi.ModTime()
		if newest.IsZero() || mt.After(newest) {
			newest, newestSize = mt, float64(fi.Size())
		}
		if oldest.IsZero() || mt.Before(oldest) {
			oldest = mt
		}
	}
	emit(model.Sample{Name: "files_count", Value: count})
	emit(model.Sample{Name: "files_bytes", Value: total})
	if count > 0 {
		// A file from the future (clock skew) is age 0, not negative.
		emit(model.Sample{Name: "files_newest_age_seconds", Value: max(now.Sub(newest).Seconds(), 0)})
		emit(model.Sample{Name: "files_oldest_age_seconds", Value: max(now.Sub(oldest).Seconds(), 0)})
		emit(model.Sample{Name: "files_newest_bytes", Value: newestSize})
	}
	return readErr
}
