package tracer

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/dropspot/dropspot/internal/report"
	"github.com/dropspot/dropspot/internal/stage"
	"github.com/dropspot/dropspot/internal/testnet"
)

// bpfProgramFDs counts this process's open BPF program file descriptors:
// the programs it has loaded and holds.
func bpfProgramFDs(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, fd := range fds {
		if target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name())); err == nil && target == "anon_inode:bpf-prog" {
			n++
		}
	}
	return n
}

// Only the chosen stages are hooked, and a stage left out has no program
// loaded at all: the drop hook alone is one program.
func TestOnlyChosenStagesLoad(t *testing.T) {
	testnet.RequirePrivileged(t)
	before := bpfProgramFDs(t)
	tr := start(t, Config{Stages: stage.SetOf(stage.Drops)})
	if got := bpfProgramFDs(t) - before; got != 1 {
		t.Errorf("drops only: %d BPF programs loaded, want 1", got)
	}
	if len(tr.Plan.Hooks) != 1 || tr.Plan.Hooks[0].Stage != stage.Drops {
		t.Errorf("drops only: hooks %v", tr.Plan.Hooks)
	}
	tr.Close()

	for _, set := range []stage.Set{stage.Seed, stage.Serve, stage.AllStages} {
		tr := start(t, Config{Stages: set})
		var hooked stage.Set
		for _, h := range tr.Plan.Hooks {
			hooked = hooked.With(h.Stage)
		}
		// start checked that each chosen stage has its hook (ip.local_out
		// aside, before 6.4) and nothing else has one.
		if set != stage.AllStages && hooked != set {
			t.Errorf("%v: hooked %v", set, hooked)
		}
		tr.Close()
	}
}

// A stage not chosen is absent from the report: not 0, not there.
func TestUnchosenStagesAbsentFromReport(t *testing.T) {
	testnet.RequirePrivileged(t)
	p := testnet.NewPair(t)
	tr := start(t, Config{Stages: stage.Seed})
	const n = 23
	f, err := testnet.UDP(p, testnet.A, n, 100, false)
	if err != nil {
		t.Fatal(err)
	}
	snap := snapshot(t, tr)
	var buf bytes.Buffer
	if err := report.WriteJSON(&buf, report.Build(snap, tr.Plan.Hooks, report.Namer{})); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Flows []struct {
			Src    string            `json:"src"`
			Sport  uint16            `json:"sport"`
			Netns  uint32            `json:"netns"`
			Path   string            `json:"path"`
			Stages map[string]uint64 `json:"stages"`
			Losses []json.RawMessage `json:"losses"`
		} `json:"flows"`
		Totals map[string]json.RawMessage `json:"totals"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	want := map[string]uint64{"rx.driver": n, "rx.core": n, "l4.rcv": n}
	found := false
	for _, fl := range doc.Flows {
		if fl.Src != f.Src.String() || fl.Sport != f.Sport {
			continue
		}
		// The sender's namespace has no chosen stage on its path.
		if fl.Netns != p.InodeB {
			t.Errorf("record in netns %d (path %s): %v", fl.Netns, fl.Path, fl.Stages)
			continue
		}
		found = true
		if len(fl.Stages) != len(want) || fl.Path != "local-in" || len(fl.Losses) != 0 {
			t.Errorf("path %s, stages %v, losses %d; want local-in, %v, none", fl.Path, fl.Stages, len(fl.Losses), want)
		}
		for s, c := range want {
			if fl.Stages[s] != c {
				t.Errorf("%s = %d, want %d", s, fl.Stages[s], c)
			}
		}
	}
	if !found {
		t.Error("no record of the flow in the receiving namespace")
	}
	for s := range doc.Totals {
		if s != "rx.driver" && s != "rx.core" && s != "l4.rcv" {
			t.Errorf("totals has %s, not chosen", s)
		}
	}
}
