package hookplan

import (
	"testing"

	"github.com/cilium/ebpf"

	"github.com/dropspot/dropspot/internal/bpf"
	"github.com/dropspot/dropspot/internal/stage"
)

// Every program a candidate names exists in the object with the type its
// hook family needs, and every stage (and the drop hook) has a candidate.
func TestCandidatesMatchObject(t *testing.T) {
	spec, err := bpf.LoadDropspot()
	if err != nil {
		t.Fatal(err)
	}
	cands := Candidates()
	for name := range programs(cands) {
		if _, ok := spec.Programs[name]; !ok {
			t.Errorf("candidate program %s is not in the BPF object", name)
		}
	}
	covered := map[stage.Stage]bool{}
	for _, c := range cands {
		covered[c.Stage] = true
		for _, p := range c.Probes {
			if ps, ok := spec.Programs[p.Program]; ok && ps.Type != progType[c.Kind] {
				t.Errorf("%s: program %s is %v, want %v", c.Name(), p.Program, ps.Type, progType[c.Kind])
			}
		}
	}
	for _, s := range append(stage.All(), stage.Drops, stage.TCPRetransmit) {
		if !covered[s] {
			t.Errorf("stage %v has no candidate", s)
		}
	}
}

func TestCandidateNames(t *testing.T) {
	for _, c := range Candidates() {
		if c.Stage == stage.L4Rcv && c.Kind == Netfilter && c.Name() != "netfilter/LOCAL_IN@last" {
			t.Errorf("l4.rcv netfilter candidate is %q", c.Name())
		}
		if c.Stage == stage.IPRcv && c.Kind == Fentry && c.Name() != "fentry/ip_rcv+ipv6_rcv" {
			t.Errorf("ip.rcv fentry candidate is %q", c.Name())
		}
	}
}

// programs lists every program name the candidates use.
func programs(cands []Candidate) map[string]bool {
	names := map[string]bool{}
	for _, c := range cands {
		for _, p := range c.Probes {
			names[p.Program] = true
		}
	}
	return names
}

// progType is the program type a kind loads as, for sanity checks.
var progType = map[Kind]ebpf.ProgramType{
	Fentry: ebpf.Tracing, Tracepoint: ebpf.Tracing, Kprobe: ebpf.Kprobe,
	Netfilter: ebpf.Netfilter, CgroupSKB: ebpf.CGroupSKB, RawTracepoint: ebpf.RawTracepoint,
}
