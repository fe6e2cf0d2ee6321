package main

import (
	"math"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

// unitClose compares floats computed through divisions and averages,
// where the last bit may differ from the hand computation.
func unitClose(got, want float64) bool {
	return math.Abs(got-want) <= 1e-9*math.Max(1, math.Abs(want))
}

func unitCheckSummary(t *testing.T, what string, got, want summary) {
	t.Helper()
	if got.N != want.N || !unitClose(got.Median, want.Median) || !unitClose(got.Min, want.Min) || !unitClose(got.Max, want.Max) {
		t.Errorf("%s = %+v, want %+v", what, got, want)
	}
}

func TestSummarize(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []float64
		want summary
	}{
		{"nil is the zero summary", nil, summary{}},
		{"empty is the zero summary", []float64{}, summary{}},
		{"single value", []float64{7}, summary{N: 1, Median: 7, Min: 7, Max: 7}},
		{"odd length takes the middle", []float64{5, 1, 3}, summary{N: 3, Median: 3, Min: 1, Max: 5}},
		// even: the mean of the two middle values, not either of them
		{"even length averages the two middle", []float64{10, 1, 4, 2}, summary{N: 4, Median: 3, Min: 1, Max: 10}},
		{"two values", []float64{2, 1}, summary{N: 2, Median: 1.5, Min: 1, Max: 2}},
		{"negative and duplicate values", []float64{-2, 5, 5, -7, 0}, summary{N: 5, Median: 0, Min: -7, Max: 5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := append([]float64(nil), tc.in...)
			got := summarize(in)
			if got != tc.want {
				t.Errorf("summarize(%v) = %+v, want %+v", tc.in, got, tc.want)
			}
			// the caller's slice (e.g. Component.NsPerRun, in repetition
			// order) must not be sorted in place
			if !reflect.DeepEqual(in, tc.in) && len(tc.in) > 0 {
				t.Errorf("summarize reordered its input: %v, was %v", in, tc.in)
			}
		})
	}
}

func TestResultsSummarizePairsRatiosWithinRepetition(t *testing.T) {
	// Listed out of repetition order on purpose: pairing by position, or
	// dividing medians, gives other answers than pairing by Rep.
	r := &Results{
		StartupMS: []float64{400, 200, 300},
		Throughput: []ThroughputSample{
			{Rep: 1, Tool: "dropspot", TCPGbps: 10, UDPSentPPS: 150, UDPRecvPPS: 100},
			{Rep: 1, Tool: "baseline", TCPGbps: 20, UDPSentPPS: 200, UDPRecvPPS: 200},
			{Rep: 0, Tool: "baseline", TCPGbps: 10, UDPSentPPS: 100, UDPRecvPPS: 100},
			{Rep: 0, Tool: "dropspot", TCPGbps: 9, UDPSentPPS: 90, UDPRecvPPS: 50},
			// no baseline in repetition 2: skipped, whatever its values
			{Rep: 2, Tool: "dropspot", TCPGbps: 1000, UDPSentPPS: 1000, UDPRecvPPS: 1000},
		},
	}
	r.Summarize()
	unitCheckSummary(t, "Startup", r.Summary.Startup, summary{N: 3, Median: 300, Min: 200, Max: 400})

	tcp, ok := r.ratio("dropspot", "tcp_gbps")
	if !ok {
		t.Fatalf("ratio(dropspot, tcp_gbps) not found; ratios %+v", r.Summary.Ratios)
	}
	// rep 0: 9/10 = 0.9; rep 1: 10/20 = 0.5. Across reps it would be
	// 10/10 = 1.0 and 9/20 = 0.45; medians 9.5/15 = 0.633.
	unitCheckSummary(t, "tcp ratio", tcp.Ratio, summary{N: 2, Median: 0.7, Min: 0.5, Max: 0.9})
	unitCheckSummary(t, "tcp baseline", tcp.Base, summary{N: 2, Median: 15, Min: 10, Max: 20})
	unitCheckSummary(t, "tcp value", tcp.Value, summary{N: 2, Median: 9.5, Min: 9, Max: 10})
	if tcp.Samples != 2 {
		t.Errorf("tcp Samples = %d, want 2 (rep 2 has no baseline)", tcp.Samples)
	}
	sent, _ := r.ratio("dropspot", "udp64_sent_pps")
	unitCheckSummary(t, "udp sent ratio", sent.Ratio, summary{N: 2, Median: 0.825, Min: 0.75, Max: 0.9})
	recv, _ := r.ratio("dropspot", "udp64_received_pps")
	unitCheckSummary(t, "udp received ratio", recv.Ratio, summary{N: 2, Median: 0.5, Min: 0.5, Max: 0.5})

	// baseline is the reference, never a tool of its own
	if _, ok := r.ratio("baseline", "tcp_gbps"); ok {
		t.Error("baseline got a ratio against itself")
	}
}

func TestResultsSummarizeCleanRatiosAndOrder(t *testing.T) {
	r := &Results{Throughput: []ThroughputSample{
		{Rep: 0, Tool: "baseline", TCPGbps: 10, UDPSentPPS: 10, UDPRecvPPS: 10},
		{Rep: 0, Tool: "dropspot", TCPGbps: 9, UDPSentPPS: 9, UDPRecvPPS: 9},
		{Rep: 0, Tool: "bpftrace", TCPGbps: 5, UDPSentPPS: 5, UDPRecvPPS: 5},
		// rep 1: the tool's own run was disturbed by foreign programs
		{Rep: 1, Tool: "baseline", TCPGbps: 10, UDPSentPPS: 10, UDPRecvPPS: 10},
		{Rep: 1, Tool: "dropspot", TCPGbps: 2, UDPSentPPS: 2, UDPRecvPPS: 2, disturbance: disturbance{Foreign: 1}},
		// rep 2: the baseline ran with bpf_stats on
		{Rep: 2, Tool: "baseline", TCPGbps: 10, UDPSentPPS: 10, UDPRecvPPS: 10, disturbance: disturbance{StatsOn: true}},
		{Rep: 2, Tool: "dropspot", TCPGbps: 3, UDPSentPPS: 3, UDPRecvPPS: 3},
		// rep 3: clean again
		{Rep: 3, Tool: "baseline", TCPGbps: 10, UDPSentPPS: 10, UDPRecvPPS: 10},
		{Rep: 3, Tool: "dropspot", TCPGbps: 8, UDPSentPPS: 8, UDPRecvPPS: 8},
	}}
	r.Summarize()

	ds, _ := r.ratio("dropspot", "tcp_gbps")
	unitCheckSummary(t, "all reps", ds.Ratio, summary{N: 4, Median: 0.55, Min: 0.2, Max: 0.9})
	// only reps 0 and 3 are clean on both sides
	unitCheckSummary(t, "clean reps", ds.RatioClean, summary{N: 2, Median: 0.85, Min: 0.8, Max: 0.9})

	// tools sorted by name, the three metrics in a fixed order per tool
	var got []string
	for _, x := range r.Summary.Ratios {
		got = append(got, x.Tool+"/"+x.Metric)
	}
	want := []string{
		"bpftrace/tcp_gbps", "bpftrace/udp64_sent_pps", "bpftrace/udp64_received_pps",
		"dropspot/tcp_gbps", "dropspot/udp64_sent_pps", "dropspot/udp64_received_pps",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ratio order = %v, want %v", got, want)
	}
}

func TestResultsSummarizeSkipsZeroBaselinePerMetric(t *testing.T) {
	// a baseline whose TCP run failed (0) must not divide by zero, and
	// must still serve as the reference for the UDP metrics
	r := &Results{Throughput: []ThroughputSample{
		{Rep: 0, Tool: "baseline", TCPGbps: 0, UDPSentPPS: 100, UDPRecvPPS: 100},
		{Rep: 0, Tool: "dropspot", TCPGbps: 5, UDPSentPPS: 80, UDPRecvPPS: 80},
		{Rep: 1, Tool: "baseline", TCPGbps: 10, UDPSentPPS: 100, UDPRecvPPS: 100},
		{Rep: 1, Tool: "dropspot", TCPGbps: 9, UDPSentPPS: 60, UDPRecvPPS: 60},
	}}
	r.Summarize()
	tcp, _ := r.ratio("dropspot", "tcp_gbps")
	unitCheckSummary(t, "tcp ratio", tcp.Ratio, summary{N: 1, Median: 0.9, Min: 0.9, Max: 0.9})
	sent, _ := r.ratio("dropspot", "udp64_sent_pps")
	unitCheckSummary(t, "udp sent ratio", sent.Ratio, summary{N: 2, Median: 0.7, Min: 0.6, Max: 0.8})
}

func TestResultsRatioLookup(t *testing.T) {
	r := &Results{Throughput: []ThroughputSample{
		{Rep: 0, Tool: "baseline", TCPGbps: 10, UDPSentPPS: 10, UDPRecvPPS: 10},
		{Rep: 0, Tool: "dropspot", TCPGbps: 5, UDPSentPPS: 5, UDPRecvPPS: 5},
		// only in a repetition without baseline: a Ratio entry with no samples
		{Rep: 7, Tool: "bpftrace", TCPGbps: 5, UDPSentPPS: 5, UDPRecvPPS: 5},
	}}
	r.Summarize()
	for _, tc := range []struct {
		tool, metric string
		ok           bool
		ratio        float64
	}{
		{"dropspot", "tcp_gbps", true, 0.5},
		{"dropspot", "udp64_received_pps", true, 0.5},
		{"bpftrace", "tcp_gbps", false, 0}, // present, but no samples
		{"nosuchtool", "tcp_gbps", false, 0},
		{"dropspot", "nosuchmetric", false, 0},
	} {
		got, ok := r.ratio(tc.tool, tc.metric)
		if ok != tc.ok || !unitClose(got.Ratio.Median, tc.ratio) {
			t.Errorf("ratio(%q, %q) = %v (median %v), want %v (median %v)", tc.tool, tc.metric, ok, got.Ratio.Median, tc.ok, tc.ratio)
		}
		if ok && (got.Tool != tc.tool || got.Metric != tc.metric) {
			t.Errorf("ratio(%q, %q) returned %s/%s", tc.tool, tc.metric, got.Tool, got.Metric)
		}
	}
}

func TestHookProgNsPerRun(t *testing.T) {
	h := &HookProg{Windows: []HookWindow{
		{Traffic: "tcp", Rep: 0, RunTimeNS: 100_000, RunCnt: 1000}, // 100
		{Traffic: "tcp", Rep: 1, RunTimeNS: 300_000, RunCnt: 1000}, // 300
		{Traffic: "tcp", Rep: 2, RunTimeNS: 400_000, RunCnt: 2000}, // 200
		{Traffic: "udp", Rep: 0, RunTimeNS: 60_000, RunCnt: 400},   // 150
		{Traffic: "udp", Rep: 1, RunTimeNS: 50_000, RunCnt: 200},   // 250
		{Traffic: "drop", Rep: 0, RunTimeNS: 0, RunCnt: 0},         // never ran: ignored
	}}
	for _, tc := range []struct {
		traffic string
		ns      float64
		runs    uint64
	}{
		{"tcp", 200, 4000},      // median of 100, 300, 200
		{"udp", 200, 600},       // median of 150 and 250 (mean of the middle two)
		{"drop", 0, 0},          // no window with runs
		{"nosuch", 0, 0},        // unknown traffic type
		{"", 910.0 / 4.6, 4600}, // pooled: 910000 ns / 4600 runs, not a median
	} {
		ns, runs := h.nsPerRun(tc.traffic)
		if !unitClose(ns, tc.ns) || runs != tc.runs {
			t.Errorf("nsPerRun(%q) = %v, %d; want %v, %d", tc.traffic, ns, runs, tc.ns, tc.runs)
		}
	}
	if ns, runs := (&HookProg{}).nsPerRun(""); ns != 0 || runs != 0 {
		t.Errorf("nsPerRun on no windows = %v, %d; want 0, 0", ns, runs)
	}
}

func TestHookProgBase(t *testing.T) {
	// base() is what matches a dropspot program with the empty program and
	// the bpftrace program on the same kernel hook
	for _, tc := range []struct{ hook, want string }{
		{"tp_btf/kfree_skb", "kfree_skb"},
		{"tracepoint:skb:kfree_skb", "kfree_skb"},
		{"kfree_skb", "kfree_skb"}, // bpftrace's, as `bpftool perf show` names it
		{"netfilter/LOCAL_IN", "netfilter/LOCAL_IN"},
		{"cgroup_skb/ingress", "cgroup_skb/ingress"},
		{"?/weird_prog", "weird_prog"},
		{"", ""},
	} {
		if got := (&HookProg{Hook: tc.hook}).base(); got != tc.want {
			t.Errorf("base(%q) = %q, want %q", tc.hook, got, tc.want)
		}
	}
	// the pairs the hook table relies on
	ds := &HookProg{Hook: dropspotHook("tp_kfree_skb")}
	bt := &HookProg{Hook: "kfree_skb"}
	em := &HookProg{Hook: "tp_btf/kfree_skb"}
	if ds.base() != bt.base() || ds.base() != em.base() {
		t.Errorf("kfree_skb hooks do not match: dropspot %q, bpftrace %q, empty %q", ds.base(), bt.base(), em.base())
	}
	if a, b := (&HookProg{Hook: "netfilter/LOCAL_IN"}).base(), (&HookProg{Hook: "netfilter/LOCAL_OUT"}).base(); a == b {
		t.Errorf("distinct netfilter hooks share a base %q", a)
	}
}

func TestDropspotHook(t *testing.T) {
	for _, tc := range []struct{ name, want string }{
		{"nf_ip_rcv", "netfilter/PRE_ROUTING"},
		{"nf_ip_local_in", "netfilter/LOCAL_IN"},
		{"nf_l4_rcv", "netfilter/LOCAL_IN"}, // the l4 stage is a second LOCAL_IN program
		{"nf_ip_forward", "netfilter/FORWARD"},
		{"nf_ip_local_out", "netfilter/LOCAL_OUT"},
		{"nf_ip_postrouting", "netfilter/POST_ROUTING"},
		{"cg_sock_rcv", "cgroup_skb/ingress"},
		{"tp_kfree_skb", "tp_btf/kfree_skb"},
		{"tp_kfree_skb_noreason", "tp_btf/kfree_skb"}, // old kernels' variant, same event
		{"tp_netif_rx", "tp_btf/netif_rx"},
		{"tp_net_dev_start_xmit", "tp_btf/net_dev_start_xmit"},
		{"nf_unknown", "?/nf_unknown"},
		{"something", "?/something"},
	} {
		if got := dropspotHook(tc.name); got != tc.want {
			t.Errorf("dropspotHook(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// raisedMaxFlows sizes --max-flows for N flows: N·1.25 rounded up to a
// multiple of 64Ki, at least 128Ki.
func TestRaisedMaxFlows(t *testing.T) {
	for _, tc := range []struct{ n, want int }{
		{0, 131072},
		{1, 131072},
		{10_000, 131072},
		{100_000, 131072},        // 125000 -> floor 128Ki
		{104_857, 131072},        // 131071.25 -> 2·64Ki
		{104_858, 196608},        // 131072.5: a fraction over 2·64Ki -> 3·64Ki
		{200_000, 262144},        // 250000 -> 4·64Ki
		{1_000_000, 1_310_720},   // 1250000 -> 20·64Ki
		{1 << 20, 1_310_720},     // 1310720 is exactly 20·64Ki: not bumped
		{1<<20 + 1, 1_376_256},   // one flow more: 21·64Ki
		{10_000_000, 12_517_376}, // 12500000 -> 191·64Ki
	} {
		if got := raisedMaxFlows(tc.n); got != tc.want {
			t.Errorf("raisedMaxFlows(%d) = %d, want %d", tc.n, got, tc.want)
		}
	}
	// the rule, over a range of N (entries: ceil(N·1.25))
	for n := 0; n <= 3_000_000; n += 997 {
		m := raisedMaxFlows(n)
		want := (n*5 + 3) / 4
		if m%65536 != 0 || m < 131072 || m < n || m < want {
			t.Fatalf("raisedMaxFlows(%d) = %d: want a multiple of 64Ki, >= 128Ki, >= N and >= ceil(1.25N) = %d", n, m, want)
		}
		if m > 131072 && m-65536 >= want {
			t.Fatalf("raisedMaxFlows(%d) = %d: not the smallest multiple of 64Ki >= %d", n, m, want)
		}
	}
}

func TestReadStreamCountsRecordsAcrossReads(t *testing.T) {
	// one byte per Read: every `"conn":` straddles read boundaries
	doc := `{"flows":[{"conn":1,"proto":"udp"},{"conn": 2},{"conn":3}],"connections":"x","flow_table_entries": 3}`
	st := readStream(iotest.OneByteReader(strings.NewReader(doc)))
	if st.records != 3 {
		t.Errorf("records = %d, want 3", st.records)
	}
	if st.bytes != int64(len(doc)) || string(st.tail) != doc {
		t.Errorf("bytes = %d, tail %q; want %d and the whole document", st.bytes, st.tail, len(doc))
	}
	if st.first.IsZero() || st.eof.Before(st.first) {
		t.Errorf("first %v, eof %v: want first byte time <= eof time", st.first, st.eof)
	}
	if m := entriesRe.FindSubmatch(st.tail); m == nil || string(m[1]) != "3" {
		t.Errorf("flow_table_entries not found in the tail: %q", m)
	}
	if st := readStream(strings.NewReader("")); st.records != 0 || st.bytes != 0 || !st.first.IsZero() {
		t.Errorf("empty stream: %+v", st)
	}
}
