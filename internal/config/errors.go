package config

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// FieldError is one problem in a config file: where it is and what is wrong.
type FieldError struct {
	File  string
	Line  int // 0 when the YAML has no line for it (a missing field)
	Field string
	Msg   string
}

func (e FieldError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors collects every problem found, so `vedetta check` prints them all
// at once instead of one per run.
type Errors struct {
	List []FieldError
}

// Add records a problem.
func (e *Errors) Add(file string, line int, field, msg string) {
	e.List = append(e.List, FieldError{File: file, Line: line, Field: field, Msg: msg})
}

// Err returns nil when there is no problem, else the collection itself.
func (e *Errors) Err() error {
	if e == nil || len(e.List) == 0 {
		return nil
	}
	sort.SliceStable(e.List, func(i, j int) bool {
		a, b := e.List[i], e.List[j]
		if a.File != b.File {
			return a.File < b.File
		}
		return a.Line < b.Line
	})
	return e
}

func (e *Errors) Error() string {
	lines := make([]string, len(e.List))
	for i, fe := range e.List {
		lines[i] = fe.Error()
	}
	return strings.Join(lines, "\n")
}

// Problem is a problem in one field of a config block, said by the code
// that owns the block (a collector, a provider) before anyone knows the
// file and line: field is relative to the block ("command", "http",
// "users[0].auth"). The loader places it (Place); no one reads field names
// back out of message text.
func Problem(field, format string, args ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Within prefixes the fields of every problem in err with block ("snmp"
// and "address" give "snmp.address"); other errors pass unchanged.
func Within(block string, err error) error {
	probs, rest := Problems(err)
	out := make([]error, 0, len(probs)+len(rest))
	for _, p := range probs {
		p.Field = joinField(block, p.Field)
		out = append(out, &p)
	}
	return errors.Join(append(out, rest...)...)
}

func joinField(block, field string) string {
	switch {
	case block == "":
		return field
	case field == "":
		return block
	case strings.HasPrefix(field, "["):
		return block + field
	}
	return block + "." + field
}

// Problems splits err (joined or wrapped) into the field problems in it
// and the other errors.
func Problems(err error) (probs []FieldError, rest []error) {
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		var fe *FieldError
		if errors.As(e, &fe) {
			probs = append(probs, *fe)
			return
		}
		rest = append(rest, e)
	}
	walk(err)
	return probs, rest
}
