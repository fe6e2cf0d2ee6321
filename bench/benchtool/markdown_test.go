package main

import (
	"strings"
	"testing"
)

func TestSpread(t *testing.T) {
	for _, tc := range []struct {
		s      summary
		format string
		want   string
	}{
		{summary{}, "%.2f", "–"},
		{summary{N: 1, Median: 0.5, Min: 0.5, Max: 0.5}, "%.3f", "0.500"},
		{summary{N: 3, Median: 2, Min: 1, Max: 3.25}, "%.1f", "2.0 [1.0–3.2]"},
	} {
		if got := spread(tc.s, tc.format); got != tc.want {
			t.Errorf("spread(%+v, %q) = %q, want %q", tc.s, tc.format, got, tc.want)
		}
	}
}

// unitHooks: two dropspot programs, the empty programs on their hooks,
// and two bpftrace programs (one on a hook dropspot shares).
//
//	dropspot tp_netif_rx  tcp 100, 120; udp 150; pooled 520000/4000 = 130
//	dropspot nf_ip_rcv    udp 200;               pooled 400000/2000 = 200
//	empty    netif_rx 50, PRE_ROUTING 40
//	bpftrace netif_rx 500 (4000 runs), kfree_skb 300 (1000 runs)
func unitHooks() []HookProg {
	return []HookProg{
		{Tool: "dropspot", ID: 11, Name: "nf_ip_rcv", Hook: "netfilter/PRE_ROUTING", XlatedBytes: 2000, JitedBytes: 1500, VerifiedInsns: 900,
			Windows: []HookWindow{{Traffic: "udp", RunTimeNS: 400_000, RunCnt: 2000}}},
		{Tool: "dropspot", ID: 10, Name: "tp_netif_rx", Hook: "tp_btf/netif_rx", XlatedBytes: 1234, JitedBytes: 789, VerifiedInsns: 4321,
			Windows: []HookWindow{
				{Traffic: "tcp", Rep: 0, RunTimeNS: 100_000, RunCnt: 1000},
				{Traffic: "tcp", Rep: 1, RunTimeNS: 120_000, RunCnt: 1000},
				{Traffic: "udp", Rep: 0, RunTimeNS: 300_000, RunCnt: 2000},
				{Traffic: "drop", Rep: 0},
			}},
		{Tool: "empty", ID: 20, Name: "e_netif_rx", Hook: "tp_btf/netif_rx",
			Windows: []HookWindow{{Traffic: "udp", RunTimeNS: 50_000, RunCnt: 1000}}},
		{Tool: "empty", ID: 21, Name: "e_nf_pre_routin", Hook: "netfilter/PRE_ROUTING",
			Windows: []HookWindow{{Traffic: "udp", RunTimeNS: 40_000, RunCnt: 1000}}},
		{Tool: "bpftrace", ID: 30, Name: "netif_rx", Hook: "netif_rx",
			Windows: []HookWindow{{Traffic: "udp", RunTimeNS: 2_000_000, RunCnt: 4000}}},
		{Tool: "bpftrace", ID: 31, Name: "kfree_skb", Hook: "kfree_skb",
			Windows: []HookWindow{{Traffic: "drop", RunTimeNS: 300_000, RunCnt: 1000}}},
	}
}

func TestHookAverages(t *testing.T) {
	r := &Results{Hooks: unitHooks()}
	// a third dropspot program, far above its empty program but with too
	// few runs (< 1000) to be named the worst hook
	r.Hooks = append(r.Hooks,
		HookProg{Tool: "dropspot", Name: "tp_net_dev_queue", Hook: "tp_btf/net_dev_queue",
			Windows: []HookWindow{{Traffic: "udp", RunTimeNS: 9000, RunCnt: 10}}},
		HookProg{Tool: "empty", Name: "e_dev_queue", Hook: "tp_btf/net_dev_queue",
			Windows: []HookWindow{{Traffic: "udp", RunTimeNS: 1000, RunCnt: 100}}},
	)
	a := r.hookAverages()
	// dropspot, weighted by its runs: (130·4000 + 200·2000 + 900·10) / 6010
	if want := 929_000.0 / 6010; !unitClose(a.ds, want) || a.dsRuns != 6010 {
		t.Errorf("ds = %v over %d runs, want %v over 6010", a.ds, a.dsRuns, want)
	}
	// the empty programs, weighted by dropspot's runs on their hooks
	if want := (50*4000 + 40*2000 + 10*10.0) / 6010; !unitClose(a.emptyMatched, want) {
		t.Errorf("emptyMatched = %v, want %v", a.emptyMatched, want)
	}
	// bpftrace, weighted by its own runs: (500·4000 + 300·1000) / 5000
	if !unitClose(a.bt, 460) {
		t.Errorf("bt = %v, want 460", a.bt)
	}
	// only tp_netif_rx shares a hook with bpftrace
	if !unitClose(a.dsOnBtHooks, 130) {
		t.Errorf("dsOnBtHooks = %v, want 130", a.dsOnBtHooks)
	}
	// nf_ip_rcv 200/40 = 5 beats tp_netif_rx 130/50 = 2.6; the 90× of
	// tp_net_dev_queue has 10 runs and does not count
	if a.worstName != "nf_ip_rcv" || !unitClose(a.worstRatio, 5) {
		t.Errorf("worst = %s %v, want nf_ip_rcv 5", a.worstName, a.worstRatio)
	}

	if z := (&Results{}).hookAverages(); z != (hookAverages{}) {
		t.Errorf("no hooks: %+v, want zeros", z)
	}
}

func unitScale() []ScaleSample {
	const mib = 1 << 20
	return []ScaleSample{
		{Flows: 1_000_000, MaxFlows: 1_310_720, Rep: 0, MapBytes: 200 * mib, FlowsMapBytes: 150 * mib, ReportSeconds: 0.75, ReportBytes: 300e6,
			Entries: 1_000_000, Evicted: 0, StartupMS: 400, FloodPPS: 500e3, MaxRSSKB: 100 * 1024, UserSeconds: 1, SysSeconds: 0.5, IterateSeconds: 3, BatchSeconds: 1},
		{Flows: 10_000, MaxFlows: 262_144, Rep: 0, MapBytes: 40 * mib, ReportSeconds: 0.1, Entries: 10_000, StartupMS: 300, FloodPPS: 800e3},
		{Flows: 1_000_000, MaxFlows: 1_310_720, Rep: 1, MapBytes: 220 * mib, FlowsMapBytes: 170 * mib, ReportSeconds: 1.25, ReportBytes: 310e6,
			Entries: 999_000, Evicted: 1000, StartupMS: 500, FloodPPS: 600e3, MaxRSSKB: 120 * 1024, UserSeconds: 2, SysSeconds: 1, IterateSeconds: 5, BatchSeconds: 2},
		// the default table: too small for 10^6 flows
		{Flows: 1_000_000, MaxFlows: 262_144, Rep: 0, MapBytes: 50 * mib, ReportSeconds: 0.25, ReportBytes: 80e6, Entries: 262_144, Evicted: 737_856},
	}
}

func TestScaleAggs(t *testing.T) {
	aggs := (&Results{Scale: unitScale()}).scaleAggs()
	type fm struct{ f, m int }
	var order []fm
	for _, a := range aggs {
		order = append(order, fm{a.flows, a.maxFlows})
	}
	// by flows, then --max-flows
	want := []fm{{10_000, 262_144}, {1_000_000, 262_144}, {1_000_000, 1_310_720}}
	if len(order) != len(want) {
		t.Fatalf("groups = %v, want %v", order, want)
	}
	for i := range want {
		if order[i] != want[i] {
			t.Fatalf("groups = %v, want %v", order, want)
		}
	}
	big := aggs[2]
	unitCheckSummary(t, "map MiB", big.mapMiB, summary{N: 2, Median: 210, Min: 200, Max: 220})
	unitCheckSummary(t, "flows map MiB", big.flowsMiB, summary{N: 2, Median: 160, Min: 150, Max: 170})
	unitCheckSummary(t, "report s", big.report, summary{N: 2, Median: 1, Min: 0.75, Max: 1.25})
	unitCheckSummary(t, "report MB", big.reportMB, summary{N: 2, Median: 305, Min: 300, Max: 310})
	unitCheckSummary(t, "RSS MiB", big.rssMiB, summary{N: 2, Median: 110, Min: 100, Max: 120})
	unitCheckSummary(t, "entries", big.entries, summary{N: 2, Median: 999_500, Min: 999_000, Max: 1_000_000})
	unitCheckSummary(t, "evicted", big.evicted, summary{N: 2, Median: 500, Min: 0, Max: 1000})
	unitCheckSummary(t, "flood pps", big.floodPPS, summary{N: 2, Median: 550e3, Min: 500e3, Max: 600e3})
	unitCheckSummary(t, "iterate s", big.iter, summary{N: 2, Median: 4, Min: 3, Max: 5})
	unitCheckSummary(t, "batch s", big.batch, summary{N: 2, Median: 1.5, Min: 1, Max: 2})
	// the other group of the same flow count stays apart
	unitCheckSummary(t, "default-table map MiB", aggs[1].mapMiB, summary{N: 1, Median: 50, Min: 50, Max: 50})

	if got := (&Results{}).scaleAggs(); len(got) != 0 {
		t.Errorf("no samples: %d groups", len(got))
	}
}

// unitThroughput over two repetitions (ratios against the same rep):
//
//	rep 0: baseline TCP 10, UDP sent 1000k, recv 800k
//	       dropspot 0.9 / 0.9 / 0.95; bpftrace 0.5 ×3; empty 0.98 ×3
//	rep 1: baseline TCP 20, UDP sent 2000k, recv 1600k
//	       dropspot 0.96 / 0.95 / 1.0; bpftrace 0.6 ×3 (disturbed); empty 1.0 ×3
//	rep 0: empty-tp 0.95 / 0.97 / 0.99 (one repetition only)
func unitThroughput() []ThroughputSample {
	return []ThroughputSample{
		{Rep: 0, Tool: "baseline", TCPGbps: 10, UDPSentPPS: 1_000_000, UDPRecvPPS: 800_000},
		{Rep: 0, Tool: "dropspot", TCPGbps: 9, UDPSentPPS: 900_000, UDPRecvPPS: 760_000},
		{Rep: 0, Tool: "bpftrace", TCPGbps: 5, UDPSentPPS: 500_000, UDPRecvPPS: 400_000},
		{Rep: 0, Tool: "empty", TCPGbps: 9.8, UDPSentPPS: 980_000, UDPRecvPPS: 784_000},
		{Rep: 0, Tool: "empty-tp", TCPGbps: 9.5, UDPSentPPS: 970_000, UDPRecvPPS: 792_000},
		{Rep: 1, Tool: "empty", TCPGbps: 20, UDPSentPPS: 2_000_000, UDPRecvPPS: 1_600_000},
		{Rep: 1, Tool: "bpftrace", TCPGbps: 12, UDPSentPPS: 1_200_000, UDPRecvPPS: 960_000, disturbance: disturbance{Foreign: 2, ForeignNames: []string{"cilium_x", "other"}}},
		{Rep: 1, Tool: "baseline", TCPGbps: 20, UDPSentPPS: 2_000_000, UDPRecvPPS: 1_600_000},
		{Rep: 1, Tool: "dropspot", TCPGbps: 19.2, UDPSentPPS: 1_900_000, UDPRecvPPS: 1_600_000},
	}
}

func unitMarkdownResults() *Results {
	r := &Results{
		Command:    "benchtool run --quick",
		Machine:    MachineInfo{Kernel: "Linux 6.12.0 x86_64", CPUs: 4, CPU: "Test CPU", Dropspot: "commit abc123"},
		Tcpdrop:    TcpdropResult{Status: "bcc not installed"},
		StartupMS:  []float64{300, 1200, 500},
		Throughput: unitThroughput(),
		Accuracy: []Accuracy{{
			Rep: 0, Sent: 1000, Received: 990,
			Missing:     map[string]int64{"ip.local_out": 0, "sock.rcv": 10},
			FlowDrops:   10,
			DropReasons: map[string]uint64{"SOCKET_RCVBUFF@l4.rcv": 10},
			Verdict:     unitAccounted,
		}},
		Hooks: unitHooks(),
		Components: []Component{
			{ID: 1, Label: "empty (first)", Summary: summarize([]float64{30, 32, 31})},
			{ID: 2, Label: "flow hash lookup", Summary: summarize([]float64{80, 90, 85}), MinusEmpty: 54.4},
		},
		KProfile: &KProfile{Samples: 1000, ReceiverSamples: 20,
			Categories: map[string]float64{"BPF: program body (dropspot's own instructions)": 12.5, "rest of the kernel and user space": 87.5},
			PerProgram: []FrameShare{{"tp_netif_rx", 7.5}}},
		Scale:    unitScale(),
		Warnings: []string{"kernel.bpf_stats_enabled was on"},
		Errors:   []string{"rep 3 bpftrace: exit 1"},
	}
	r.Summarize()
	return r
}

func TestMarkdownKeyNumbers(t *testing.T) {
	r := unitMarkdownResults()
	md := r.Markdown(options{reps: 2, tcpSeconds: 3, udpSeconds: 2, hookReps: 1, hookSeconds: 3, startupReps: 3})
	for _, want := range []string{
		"- command: `benchtool run --quick`",
		"- repetitions: throughput and drop storm 2 (tools interleaved, order rotated each repetition), TCP 3s, UDP 2s; hook windows 1×3s per traffic type; startup 3",

		// throughput: values scaled (kpps), ratios paired per repetition
		"| TCP single stream (Gbit/s) | 15.00 [10.00–20.00] | 14.10 [9.00–19.20] | **0.930 [0.900–0.960]** | 8.50 [5.00–12.00] | **0.550 [0.500–0.600]** | 14.90 [9.80–20.00] | 0.990 [0.980–1.000] | not runnable here |",
		"| UDP 64 B payload, sent (kpps) | 1500 [1000–2000] | 1400 [900–1900] | **0.925 [0.900–0.950]** | 850 [500–1200] | **0.550 [0.500–0.600]** | 1490 [980–2000] | 0.990 [0.980–1.000] | not runnable here |",
		"| UDP 64 B payload, received (kpps) | 1200 [800–1600] | 1180 [760–1600] | **0.975 [0.950–1.000]** |",
		// one disturbed measurement: bpftrace's clean ratio is rep 0 only
		"1 of 9 measurements saw other people's BPF programs",
		"dropspot TCP 0.930 [0.900–0.960], UDP 0.925 [0.900–0.950] (n=2);",
		"bpftrace TCP 0.500, UDP 0.500 (n=1);",
		"| empty-tp | 0.950 | 0.970 | 0.990 |",
		"tcpdrop-bpfcc: bcc not installed",

		"| 0 | 1000 | 990 | ip.local_out 0, sock.rcv 10 | 10 SOCKET_RCVBUFF@l4.rcv 10 | 0 | " + unitAccounted + " |",

		// per-hook table: medians per traffic type, pooled "all", the
		// matching empty and bpftrace programs
		"| tp_btf/netif_rx | tp_netif_rx | 110 | 150 | – | 130 | 4000 | 50 | 2.6× | 500 | 0.26 | 1234 / 789 | 4321 |",
		"| netfilter/PRE_ROUTING | nf_ip_rcv | – | 200 | – | 200 | 2000 | 40 | 5.0× | – | – | 2000 / 1500 | 900 |",
		"| netif_rx (bpftrace) | netif_rx | – | 500 | – | 500 | 4000 |",
		// (130·4000 + 200·2000)/6000 = 153.3; empty (50·4000 + 40·2000)/6000 = 46.7
		"dropspot **153 ns**, the empty programs on the same hooks 47 ns (**3.3×**, worst hook nf_ip_rcv 5.0×); bpftrace's programs 460 ns, dropspot on those same hooks 130 ns (**0.28** of bpftrace), dropspot overall ÷ bpftrace **0.33**.",

		"| flow hash lookup | 85 [80–90] | 54 |",
		"| 87.5% | rest of the kernel and user space |",
		"Per dropspot program (inclusive): tp_netif_rx 7.5%.",

		"| 1000000 | 1310720 | 999500 [999000–1000000] | 500 [0–1000] | 210.0 [200.0–220.0] | 160.0 [150.0–170.0] | 1.00 [0.75–1.25] |",
		"| 10000 | 262144 | 10000 | 0 | 40.0 |",

		"500 [300–1200] ms over 3 runs",

		// targets
		"| TCP throughput ≥ 0.97× baseline | 0.930× | **missed** |",
		"| small-UDP packet rate ≥ 0.90× baseline | 0.925× sent (0.975× received) | met |",
		"| per-hook cost ≤ 4× empty program on the same hook | 3.3× average (worst nf_ip_rcv 5.0×) | met |",
		"| per-hook cost ≤ 1/5 of bpftrace's | 153 ns vs 460 ns = 0.33 (same hooks: 0.28) | **missed** |",
		// the raised table is the one judged, not the default one
		"| 10^6 flows within 256 MiB of maps | 210 MiB (--max-flows 1310720) | met |",
		"| 10^6 flows reported in ≤ 1 s | 1.00 s (305 MB of JSON) | met |",
		"| full plan loaded and attached in ≤ 1 s | 500 ms median, 1200 ms max | met by the median; the slowest run was over |",

		"## Warnings\n\n- kernel.bpf_stats_enabled was on\n",
		"## Errors\n\n- rep 3 bpftrace: exit 1\n",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks\n\t%s", want)
		}
	}
	// dropspot's hooks in path order: the receive-side tracepoint first
	if i, j := strings.Index(md, "| tp_netif_rx |"), strings.Index(md, "| nf_ip_rcv |"); i < 0 || j < 0 || i > j {
		t.Errorf("hook rows out of path order (tp_netif_rx at %d, nf_ip_rcv at %d)", i, j)
	}
	if t.Failed() {
		t.Logf("markdown:\n%s", md)
	}
}

func TestMarkdownEmptyResults(t *testing.T) {
	// a run whose phases all failed still renders (results.md is written
	// before anything else is looked at)
	r := &Results{}
	r.Summarize()
	md := r.Markdown(options{})
	for _, want := range []string{"# dropspot benchmark results", "## Targets", "0 of 0 measurements"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown of empty results lacks %q", want)
		}
	}
	// a phase that measured nothing has no section: an empty table with
	// "0 ns" averages reads as a result
	for _, absent := range []string{"## Counting accuracy", "## Per-hook cost", "## Scale", "## Startup"} {
		if strings.Contains(md, absent) {
			t.Errorf("markdown of empty results has a %q section", absent)
		}
	}
	// without measurements no target may be declared met or missed
	if strings.Contains(md, "| met |") || strings.Contains(md, "**missed**") {
		t.Errorf("empty results judged a target:\n%s", md)
	}
}

func TestMarkdownScaleTargetsNeedARaisedTable(t *testing.T) {
	// 10^6 flows into the default (smaller) table evict most of them:
	// such a run says nothing about the 10^6-flow targets
	r := &Results{Scale: []ScaleSample{
		{Flows: 1_000_000, MaxFlows: 262_144, MapBytes: 50 << 20, ReportSeconds: 0.25, Entries: 262_144, Evicted: 737_856},
	}}
	md := r.Markdown(options{})
	if !strings.Contains(md, "| 1000000 | 262144 | 262144 | 737856 | 50.0 |") {
		t.Errorf("scale row missing:\n%s", md)
	}
	if strings.Contains(md, "10^6 flows within 256 MiB") || strings.Contains(md, "10^6 flows reported in") {
		t.Errorf("a table smaller than the flow count was judged against the 10^6-flow targets:\n%s", md)
	}
}
