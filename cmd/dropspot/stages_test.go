package main

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/dropspot/dropspot/internal/report"
	"github.com/dropspot/dropspot/internal/testnet"
)

// --stages seed: the ready line and the report say what was chosen, only
// those stages are hooked and counted, the others are absent (not 0).
func TestWatchStagesSeed(t *testing.T) {
	testnet.RequirePrivileged(t)
	p := testnet.NewPair(t)
	cmd, stdout, stderr := startWatch(t, "--json", "--duration", "3s", "--stages", "seed")
	const n = 19
	udp, err := testnet.UDP(p, testnet.A, n, 300, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("watch: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "dropspot: ready: 3 stages hooked (rx.driver rx.core l4.rcv); drops: tp_btf/kfree_skb;") ||
		!strings.Contains(stderr.String(), "stages chosen: seed") {
		t.Errorf("ready line does not say what was chosen:\n%s", stderr.String())
	}
	var r report.Report
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		t.Fatalf("stdout is not the JSON report: %v", err)
	}
	if r.Stages != "seed" || len(r.Hooks) != 4 {
		t.Errorf("report: stages %q, hooks %+v", r.Stages, r.Hooks)
	}
	seen := false
	for _, f := range r.Flows {
		if f.Src != udp.Src.String() || f.Sport != udp.Sport {
			continue
		}
		if f.Netns != p.InodeB {
			t.Errorf("record in the sender's namespace, which seed does not hook: %+v", f.Stages)
			continue
		}
		seen = true
		if len(f.Stages) != 3 || f.Stages["rx.driver"] != n || f.Stages["rx.core"] != n || f.Stages["l4.rcv"] != n || f.Lost != nil {
			t.Errorf("udp in B: stages %v, lost %+v; want rx.driver, rx.core, l4.rcv = %d only", f.Stages, f.Lost, n)
		}
	}
	if !seen {
		t.Errorf("no record of the datagrams in B:\n%s", stderr.String())
	}
}

// doctor --stages says which stages were chosen and leaves the others out.
func TestDoctorStages(t *testing.T) {
	testnet.RequirePrivileged(t)
	raw, err := exec.Command(binary, "doctor", "--stages", "serve").Output()
	if err != nil {
		t.Fatalf("doctor: %v\n%s", err, raw)
	}
	out := string(raw)
	if !strings.Contains(out, "stages:       serve\n") {
		t.Errorf("doctor does not name the chosen stages:\n%s", out)
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "rx.driver", "tx.queue", "drops":
			if f[1] == "not" || f[1] == "UNAVAILABLE" {
				t.Errorf("chosen stage not hooked: %s", line)
			}
		case "rx.core", "ip.rcv", "ip.local_in", "l4.rcv", "sock.rcv", "ip.forward", "ip.local_out", "ip.postrouting", "tx.xmit", "tx.done":
			if !strings.Contains(line, "not chosen (--stages)") {
				t.Errorf("stage outside serve: %s", line)
			}
		}
	}
}
