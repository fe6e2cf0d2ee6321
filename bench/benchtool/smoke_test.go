package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dropspot/dropspot/internal/testnet"
)

// TestBenchmarkSmoke runs the whole harness once, as briefly as its flags
// allow, with real BPF in real namespaces: a benchmark that only runs by
// hand rots unnoticed. It asserts what must hold whatever the machine's
// speed — every phase ran, the flood flow was counted exactly at every
// stage, each tool and program measured something, the scale case lost no
// flow — never a timing.
func TestBenchmarkSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("benchmark smoke run: skipped with -short")
	}
	testnet.RequirePrivileged(t)
	for _, tool := range []string{"iperf3", "bpftrace", "bpftool", "ip", "iptables-nft-restore", "nft", "conntrack"} {
		testnet.RequireTool(t, tool)
	}

	dir := t.TempDir()
	dropspot := filepath.Join(dir, "dropspot")
	benchtool := filepath.Join(dir, "benchtool")
	for bin, pkg := range map[string]string{dropspot: "../../cmd/dropspot", benchtool: "."} {
		if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, out)
		}
	}
	script, err := filepath.Abs("../flows.bt")
	if err != nil {
		t.Fatal(err)
	}
	const scaleFlows = 2000
	out := filepath.Join(dir, "results")
	// Stopped with SIGTERM (benchtool then removes its namespaces and
	// programs) if the test runs out of time, not left behind.
	ctx := t.Context()
	if deadline, ok := t.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline.Add(-30*time.Second))
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, benchtool, "run", "--dropspot", dropspot, "--bpftrace-script", script, "--out", out,
		"--phases", "startup,throughput,drops,hooks,components,scale",
		"--configs", "baseline,dropspot,bpftrace,empty", "--hosts", "bare,realistic",
		"--reps", "1", "--tcp-seconds", "1", "--udp-seconds", "1",
		"--hook-reps", "1", "--hook-seconds", "1", "--startup-reps", "1",
		"--scale-flows", "2000", "--scale-reps", "1")
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 20 * time.Second
	log, err := cmd.CombinedOutput()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("benchtool run output:\n%s", log)
		}
	})
	if err != nil {
		t.Fatalf("benchtool run: %v", err)
	}

	data, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r Results
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Errors) > 0 {
		t.Errorf("phases failed: %v", r.Errors)
	}
	if len(r.StartupMS) != 1 || r.StartupMS[0] <= 0 {
		t.Errorf("startup: %v, want one positive time", r.StartupMS)
	}

	measured := map[string]bool{}
	for _, s := range r.Throughput {
		if s.TCPGbps <= 0 || s.UDPSent == 0 {
			t.Errorf("%s on %s: TCP %.2f Gbit/s, %d datagrams sent: nothing measured", s.Tool, hostName(s.Host), s.TCPGbps, s.UDPSent)
		}
		measured[hostName(s.Host)+" "+s.Tool] = true
	}
	for _, host := range []string{hostBare, hostRealistic} {
		for _, tool := range []string{"baseline", "dropspot", "bpftrace", "empty"} {
			if !measured[host+" "+tool] {
				t.Errorf("no throughput sample for %s on the %s host", tool, host)
			}
		}
	}
	if len(r.Accuracy) != 2 {
		t.Fatalf("%d accuracy checks, want 2 (one dropspot repetition per host shape)", len(r.Accuracy))
	}
	// Missing has an entry for each path stage the report had: all 11
	// must have been compared, not only those present.
	for _, a := range r.Accuracy {
		if a.Verdict != "exact" || a.Sent == 0 || len(a.Missing) != len(pathStages) {
			t.Errorf("flood flow on %s: verdict %q, sent %d, stages %v (missing %v), want all %d path stages equal to the datagrams sent",
				hostName(a.Host), a.Verdict, a.Sent, a.Stages, a.Missing, len(pathStages))
		}
	}
	// The shapes were what they claim: bare had no rules and conntrack
	// tracked nothing; realistic had the ruleset and tracked the traffic.
	checked := map[string]int{}
	for _, c := range r.HostChecks {
		checked[c.Phase+" "+c.Host]++
		if v := c.verdict(); v != "ok" {
			t.Errorf("host check %+v: %s", c, v)
		}
	}
	for _, phase := range []string{"throughput", "hooks"} {
		for _, host := range []string{hostBare, hostRealistic} {
			if checked[phase+" "+host] != 1 {
				t.Errorf("%d host checks of %s on %s, want 1", checked[phase+" "+host], phase, host)
			}
		}
	}

	storm := map[string]DropStormSample{}
	for _, s := range r.DropStorm {
		storm[s.Tool] = s
	}
	for _, cfg := range dropStormConfigs {
		if s, ok := storm[cfg]; !ok || s.Sent == 0 {
			t.Errorf("drop storm: no datagrams dropped with %s (%+v)", cfg, s)
		}
	}
	// The flood's drops, every one: counted on the flow in the report, as
	// what they are, and streamed or counted as throttled/lost (host-wide
	// counters: other tests' drops may be there too, hence "accounted").
	for cfg, run := range dropStormRuns {
		s := storm[cfg]
		if run.report {
			reasons := map[string]uint64{"NO_SOCKET@l4.rcv": s.Sent}
			if s.ReportVerdict != "exact" || !reflect.DeepEqual(s.DropReasons, reasons) {
				t.Errorf("drop storm, %s: report %q, reasons %v; want exact, %v", cfg, s.ReportVerdict, s.DropReasons, reasons)
			}
		}
		if run.stream != "" && !slices.Contains([]string{"exact", "balanced", "accounted"}, s.StreamVerdict) {
			t.Errorf("drop storm, %s: stream %q (%+v): drops neither streamed nor counted", cfg, s.StreamVerdict, s)
		}
	}
	for _, x := range r.Summary.DropStorm {
		if x.Samples != 1 {
			t.Errorf("drop storm ratio of %s: %d samples, want 1 (paired with the baseline of its repetition)", x.Tool, x.Samples)
		}
	}
	if len(r.Summary.DropStorm) != len(dropStormConfigs)-1 {
		t.Errorf("drop storm ratios: %+v, want one per configuration", r.Summary.DropStorm)
	}

	ran := map[string]bool{}
	for _, h := range r.Hooks {
		if _, n := h.nsPerRun("udp"); n > 0 {
			ran[hostName(h.Host)+" "+h.Tool] = true
		}
	}
	for _, host := range []string{hostBare, hostRealistic} {
		for _, tool := range []string{"dropspot", "bpftrace", "empty"} {
			if !ran[host+" "+tool] {
				t.Errorf("per-hook cost on the %s host: no %s program ran during the UDP window", host, tool)
			}
		}
	}
	if len(r.Components) == 0 {
		t.Error("no components measured")
	}
	for _, c := range r.Components {
		if len(c.NsPerRun) == 0 {
			t.Errorf("component %q never ran", c.Label)
		}
	}

	if len(r.Scale) != 2 {
		t.Fatalf("%d scale samples, want 2 (default and raised --max-flows)", len(r.Scale))
	}
	for _, s := range r.Scale {
		// The table also holds whatever else the host sent meanwhile, so
		// at least our flows, none evicted (both tables are far larger).
		if s.Entries < scaleFlows || s.Evicted != 0 || s.CreateFailed != 0 || s.ReportBytes == 0 || s.FlowsMapBytes == 0 {
			t.Errorf("scale, --max-flows %d: %d entries, %d evicted, %d create failures, %d report bytes, flows map %d B; want >= %d entries and no loss",
				s.MaxFlows, s.Entries, s.Evicted, s.CreateFailed, s.ReportBytes, s.FlowsMapBytes, scaleFlows)
		}
	}

	md, err := os.ReadFile(filepath.Join(out, "results.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, section := range []string{"Throughput", "Throughput, realistic host", "Host shapes side by side", "Drop storm", "Per-hook cost", "Per-hook cost, realistic host", "Scale"} {
		if !strings.Contains(string(md), section) {
			t.Errorf("results.md has no %q section", section)
		}
	}
}
