package main

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The package's man pages come from gen-man: one page per visible command,
// each a roff page naming the version it documents, and gen-man itself
// (a build tool) stays out of --help and out of the pages.
func TestGenMan(t *testing.T) {
	dir := t.TempDir()
	root := newRoot()
	root.SetArgs([]string{"gen-man", dir})
	root.SetOut(&bytes.Buffer{})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	for _, page := range []string{"vedetta.1", "vedetta-check.1", "vedetta-run.1", "vedetta-probe-snmp.1", "vedetta-silence-add.1"} {
		b, err := os.ReadFile(filepath.Join(dir, page))
		if err != nil {
			t.Errorf("no %s: %v", page, err)
			continue
		}
		if !strings.Contains(string(b), `.TH "VEDETTA" "1"`) || !strings.Contains(string(b), "vedetta "+versionString()) {
			t.Errorf("%s has no man header with the version:\n%.300s", page, b)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "vedetta-gen-man.1")); err == nil {
		t.Error("the hidden gen-man command has a man page")
	}
	var help bytes.Buffer
	root = newRoot()
	root.SetArgs([]string{"--help"})
	root.SetOut(&help)
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(help.String(), "gen-man") {
		t.Error("gen-man is listed in --help")
	}
}

// A config the user may not read gets a way out, not a bare "permission
// denied". Tests run as root, which reads anything, so the error is made
// here rather than by the file system.
func TestUnreadableConfigSaysWhatToDo(t *testing.T) {
	err := unreadableConfig("/etc/vedetta/vedetta.yaml", &fs.PathError{Op: "open", Path: "/etc/vedetta/vedetta.yaml", Err: fs.ErrPermission})
	msg := err.Error()
	for _, want := range []string{"open /etc/vedetta/vedetta.yaml: permission denied", "group vedetta", "runuser -u vedetta", "--config"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
	if !errors.Is(err, fs.ErrPermission) {
		t.Error("the hint hides the permission error from errors.Is")
	}
	// Another file is not the package's: no talk of group vedetta there.
	own := &fs.PathError{Op: "open", Path: "/home/me/v.yaml", Err: fs.ErrPermission}
	if got := unreadableConfig("/home/me/v.yaml", own); got.Error() != own.Error() {
		t.Errorf("a user's own file got a hint: %v", got)
	}
}
