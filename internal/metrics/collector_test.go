package metrics

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/dropspot/dropspot/internal/flow"
	"github.com/dropspot/dropspot/internal/hookplan"
	"github.com/dropspot/dropspot/internal/stage"
)

// fakeSource is a flow table made up for the test.
type fakeSource struct {
	snap  *flow.Snapshot
	reads int
}

func (f *fakeSource) Snapshot() (*flow.Snapshot, error) {
	f.reads++
	// Build mutates the flow map (adds drop-only flows): hand out a copy.
	cp := *f.snap
	cp.Flows = map[flow.Key]*flow.Counts{}
	for k, v := range f.snap.Flows {
		cp.Flows[k] = v
	}
	return &cp, nil
}

func (f *fakeSource) Hooks() []hookplan.Hook {
	var hooks []hookplan.Hook
	for _, s := range stage.All() {
		hooks = append(hooks, hookplan.Hook{Stage: s, Name: "tp_btf/" + s.String()})
	}
	return hooks
}

func (f *fakeSource) NetnsHooked() int { return 3 }

var (
	a = netip.MustParseAddr("198.18.0.1")
	b = netip.MustParseAddr("198.18.0.2")
)

func lossyFlow(sport uint16, sent, delivered uint64) (flow.Key, *flow.Counts) {
	k := flow.Key{Proto: 17, Src: a, Dst: b, Sport: sport, Dport: 9999, Netns: 7}
	c := &flow.Counts{}
	for _, s := range []stage.Stage{stage.RxDriver, stage.RxCore, stage.IPRcv, stage.IPLocalIn} {
		c.Packets[s] = sent
	}
	c.Packets[stage.L4Rcv], c.Packets[stage.SockRcv] = delivered, delivered
	return k, c
}

func source() *fakeSource {
	k, c := lossyFlow(40000, 10, 4)
	snap := &flow.Snapshot{
		Flows: map[flow.Key]*flow.Counts{k: c},
		Drops: []flow.Drop{{Flow: k, Stage: stage.IPLocalIn, HasStage: true, Ifindex: 4, Packets: 6}},
	}
	snap.Totals[stage.IPRcv] = flow.StageTotals{Packets: 10, Bytes: 1000, Filtered: 2}
	snap.Overflow = flow.Overflow{FlowsCreated: 3, FlowsEvicted: 2}
	return &fakeSource{snap: snap}
}

func TestFamilies(t *testing.T) {
	c := NewCollector(source(), Options{TopFlows: 5, NetnsNames: func() map[uint32]string { return map[uint32]string{7: "blue"} },
		Ifname: func(ns, ifindex uint32) string {
			if ns == 7 && ifindex == 4 {
				return "veth-b"
			}
			return ""
		}})
	want := `
# HELP dropspot_drops_total Kernel drops of flow packets by namespace, last stage passed and reason.
# TYPE dropspot_drops_total counter
dropspot_drops_total{netns="7",netns_name="blue",reason="UNKNOWN",stage="ip.local_in"} 6
# HELP dropspot_interface_drops_total Kernel drops of flow packets by the device the packet was on when freed ("none" if it had none), and reason.
# TYPE dropspot_interface_drops_total counter
dropspot_interface_drops_total{interface="veth-b",netns="7",netns_name="blue",reason="UNKNOWN"} 6
# HELP dropspot_flow_lost_packets Largest loss along the path of each top-K flow direction.
# TYPE dropspot_flow_lost_packets gauge
dropspot_flow_lost_packets{dport="9999",dst="198.18.0.2",from="ip.local_in",netns="7",proto="udp",sport="40000",src="198.18.0.1",to="l4.rcv"} 6
# HELP dropspot_flows_evicted_total Flow entries evicted from the full table (LRU).
# TYPE dropspot_flows_evicted_total counter
dropspot_flows_evicted_total 2
# HELP dropspot_netns_hooked Network namespaces the per-namespace (netfilter) hooks cover.
# TYPE dropspot_netns_hooked gauge
dropspot_netns_hooked 3
# HELP dropspot_stage_skipped_packets_total Frames a stage saw but did not count in a flow, by why.
# TYPE dropspot_stage_skipped_packets_total counter
dropspot_stage_skipped_packets_total{stage="ip.rcv",why="filtered"} 2
dropspot_stage_skipped_packets_total{stage="ip.rcv",why="malformed"} 0
dropspot_stage_skipped_packets_total{stage="ip.rcv",why="not_ip"} 0
`
	names := []string{"dropspot_drops_total", "dropspot_interface_drops_total", "dropspot_flow_lost_packets", "dropspot_flows_evicted_total", "dropspot_netns_hooked"}
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	if got := value(t, c, "dropspot_stage_packets_total", "stage", "ip.rcv"); got != 10 {
		t.Errorf("ip.rcv packets = %v, want 10", got)
	}
	// Every hooked stage has its skipped series (filtered, not_ip,
	// malformed, run_missed), zeros included.
	if n := testutil.CollectAndCount(c, "dropspot_stage_skipped_packets_total"); n != 4*int(stage.Count) {
		t.Errorf("skipped series = %d, want %d", n, 4*int(stage.Count))
	}
}

// value reads one series: the metric name with the given label value.
func value(t *testing.T, c prometheus.Collector, name, label, want string) float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == want {
					return m.GetCounter().GetValue() + m.GetGauge().GetValue()
				}
			}
		}
	}
	t.Fatalf("no series %s{%s=%q}", name, label, want)
	return 0
}

// Series stay bounded however many flows exist: only the top-K lossy
// flow directions get per-flow series.
func TestSeriesBounded(t *testing.T) {
	src := source()
	for i := range 2000 {
		k, c := lossyFlow(uint16(1000+i), 10, uint64(i%10))
		src.snap.Flows[k] = c
	}
	const topK = 5
	c := NewCollector(src, Options{TopFlows: topK})
	perFlow := testutil.CollectAndCount(c, "dropspot_flow_stage_packets_total", "dropspot_flow_lost_packets")
	if perFlow != topK*(int(stage.Count)+1) {
		t.Errorf("per-flow series = %d, want %d", perFlow, topK*(int(stage.Count)+1))
	}
	total := testutil.CollectAndCount(c)
	if bound := SeriesBound(1, 1, 1, topK); total > bound {
		t.Errorf("%d series exceed the documented bound %d", total, bound)
	}
}

// Scrapes closer together than MinInterval read the maps once.
func TestScrapeStormReadsOnce(t *testing.T) {
	src := source()
	c := NewCollector(src, Options{MinInterval: 1 << 40})
	for range 50 {
		testutil.CollectAndCount(c)
	}
	if src.reads != 1 {
		t.Errorf("50 scrapes read the maps %d times, want 1", src.reads)
	}
}
