package hookplan

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/dropspot/dropspot/internal/netns"
)

// watcherLog is a watcher with no probes (a namespace that can be entered
// is hooked at once) over the namespaces scan lists, its warnings in the
// returned buffer.
func watcherLog(t *testing.T, scope uint32, scan map[uint32]string) (*NetnsWatcher, *bytes.Buffer) {
	t.Helper()
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn}))
	w := newNetnsWatcher(nil, log, nil, scope)
	w.scan = func() map[uint32]string { return scan }
	return w, &buf
}

// unenterable is a namespace that exists but cannot be hooked: a UTS
// namespace listed as a network one (setns refuses it), by its inode.
func unenterable(t *testing.T) (uint32, string) {
	t.Helper()
	const path = "/proc/self/ns/uts"
	ino, err := netns.Inode(path)
	if err != nil {
		t.Fatal(err)
	}
	return ino, path
}

// A namespace that cannot be hooked is told of once a run, however often
// the watcher rescans; one that is gone by the time it is entered (its
// process exited after the scan) is no error; one outside the namespace
// the run counts is not worth a line.
func TestNetnsWarnings(t *testing.T) {
	ino, path := unenterable(t)
	const gone = "/proc/4194305/ns/net" // above the largest pid
	for _, c := range []struct {
		name  string
		scope uint32
		scan  map[uint32]string
		warns int
	}{
		{"unhookable, three rescans", 0, map[uint32]string{ino: path}, 1},
		{"gone before attach", 0, map[uint32]string{4026599999: gone}, 0},
		{"unhookable outside --netns", ino + 1, map[uint32]string{ino: path}, 0},
		{"unhookable, the one --netns names", ino, map[uint32]string{ino: path}, 1},
	} {
		w, log := watcherLog(t, c.scope, c.scan)
		for range 3 {
			if err := w.Sync(); err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
		}
		if n := strings.Count(log.String(), "\n"); n != c.warns {
			t.Errorf("%s: %d warnings, want %d:\n%s", c.name, n, c.warns, log)
		}
	}
}

// Once closed (its programs about to be closed), a watcher attaches and
// says nothing more: a rescan racing with shutdown used to attach closed
// programs and warn "bad file descriptor".
func TestNetnsWatcherClosed(t *testing.T) {
	ino, path := unenterable(t)
	w, log := watcherLog(t, 0, map[uint32]string{ino: path})
	w.Close()
	if err := w.Sync(); err != nil || log.Len() > 0 || w.Count() != 0 {
		t.Errorf("Sync after Close: %v, %d namespaces, log %q", err, w.Count(), log)
	}
}
