package config

import (
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
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
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
