package main

import (
	"slices"
	"strings"
	"testing"
)

// unitRealistic: the bare fixture (unitThroughput) plus the same two
// repetitions on the realistic host, and dropspot:seed on both (any
// configuration composes with any host shape).
//
//	realistic rep 0: baseline TCP 8, UDP sent 800k, recv 600k (0.8, 0.8, 0.75 of bare)
//	                 dropspot 0.75 / 0.75 / 0.8; dropspot:seed 0.95 ×3
//	realistic rep 1: baseline 16 / 1600k / 1200k; dropspot 0.8 / 0.8 / 0.9
//	bare rep 0:      dropspot:seed 0.95 ×3
func unitRealistic() []ThroughputSample {
	r := hostRealistic
	return append(unitThroughput(),
		ThroughputSample{Rep: 0, Tool: "baseline", Host: r, TCPGbps: 8, UDPSentPPS: 800_000, UDPRecvPPS: 600_000},
		ThroughputSample{Rep: 0, Tool: "dropspot", Host: r, TCPGbps: 6, UDPSentPPS: 600_000, UDPRecvPPS: 480_000},
		ThroughputSample{Rep: 0, Tool: "dropspot:seed", Host: r, TCPGbps: 7.6, UDPSentPPS: 760_000, UDPRecvPPS: 570_000},
		ThroughputSample{Rep: 1, Tool: "dropspot", Host: r, TCPGbps: 12.8, UDPSentPPS: 1_280_000, UDPRecvPPS: 1_080_000},
		ThroughputSample{Rep: 1, Tool: "baseline", Host: r, TCPGbps: 16, UDPSentPPS: 1_600_000, UDPRecvPPS: 1_200_000},
		ThroughputSample{Rep: 0, Tool: "dropspot:seed", TCPGbps: 9.5, UDPSentPPS: 950_000, UDPRecvPPS: 760_000},
	)
}

// unitRealisticHooks: the bare hooks fixture, and the same programs on the
// realistic host at twice the run time.
func unitRealisticHooks() []HookProg {
	hooks := unitHooks()
	for _, h := range unitHooks() {
		h.Host = hostRealistic
		h.Windows = slices.Clone(h.Windows)
		for i := range h.Windows {
			h.Windows[i].RunTimeNS *= 2
		}
		hooks = append(hooks, h)
	}
	return hooks
}

func unitRealisticResults(throughput []ThroughputSample) *Results {
	rules := countRules(defaultKubeShape.ruleset())
	r := &Results{
		Tcpdrop:    TcpdropResult{Status: "bcc not installed"},
		Throughput: throughput,
		Accuracy:   []Accuracy{{Rep: 0, Sent: 1000, Verdict: "exact"}, {Rep: 0, Host: hostRealistic, Sent: 800, Verdict: "exact"}},
		Hooks:      unitRealisticHooks(),
		HostChecks: []HostCheck{
			{Phase: "throughput", Host: hostBare, Rep: 0},
			{Phase: "throughput", Host: hostRealistic, Rep: 0, Rules: [2]int{rules, rules}, Conntrack: [2]int{5, 5}},
			// a bare block that was not: conntrack tracked something
			{Phase: "hooks", Host: hostBare, Rep: 0, Conntrack: [2]int{0, 3}},
			// a realistic block whose ruleset did not load in A
			{Phase: "hooks", Host: hostRealistic, Rep: 0, Rules: [2]int{0, rules}, Conntrack: [2]int{0, 4}},
		},
	}
	r.Summarize()
	return r
}

func TestMarkdownRealisticHost(t *testing.T) {
	r := unitRealisticResults(unitRealistic())
	md := r.Markdown(options{hosts: []string{hostBare, hostRealistic}})
	for _, want := range []string{
		"- host shapes of the throughput and hooks phases: bare, realistic, each repetition's order rotated; realistic = conntrack and a kube-proxy node's iptables-nft ruleset in both namespaces: ",

		// the bare table as it always was
		"| TCP single stream (Gbit/s) | 15.00 [10.00–20.00] | 14.10 [9.00–19.20] | **0.930 [0.900–0.960]** | 8.50 [5.00–12.00] | **0.550 [0.500–0.600]** | 14.90 [9.80–20.00] | 0.990 [0.980–1.000] | not runnable here |",
		"| dropspot:seed | 0.950 | 0.950 | 0.950 |",

		// the realistic table: its own baselines, no bpftrace or empty runs
		"## Throughput, realistic host (conntrack and a kube-proxy node's iptables-nft ruleset",
		"| TCP single stream (Gbit/s) | 12.00 [8.00–16.00] | 9.40 [6.00–12.80] | **0.775 [0.750–0.800]** | – | **–** | – | – | not runnable here |",
		"| UDP 64 B payload, received (kpps) | 900 [600–1200] | 780 [480–1080] | **0.850 [0.800–0.900]** |",
		"0 of 5 measurements saw other people's BPF programs",

		// side by side: every configuration on both shapes
		"| baseline | 1.000 | 0.800 [0.800–0.800] | 1.000 | 0.800 [0.800–0.800] | 1.000 | 0.750 [0.750–0.750] |",
		"| dropspot | 0.930 [0.900–0.960] | 0.775 [0.750–0.800] | 0.925 [0.900–0.950] | 0.775 [0.750–0.800] | 0.975 [0.950–1.000] | 0.850 [0.800–0.900] |",
		"| dropspot:seed | 0.950 | 0.950 | 0.950 | 0.950 | 0.950 | 0.950 |",
		"| bpftrace | 0.550 [0.500–0.600] | – | 0.550 [0.500–0.600] | – |",

		// the checks, judged
		"| throughput | 0 | bare | 0 / 0 | 0 / 0 | ok |",
		"| throughput | 0 | realistic | ",
		"| hooks | 0 | bare | 0 / 0 | 0 / 3 | **not bare** |",
		"**want ",

		"| 0 realistic | 800 |",

		// per-hook cost on each shape, averaged apart
		"dropspot **153 ns**, the empty programs on the same hooks 47 ns (**3.3×**, worst hook nf_ip_rcv 5.0×)",
		"## Per-hook cost, realistic host (",
		"dropspot **307 ns**, the empty programs on the same hooks 93 ns (**3.3×**, worst hook nf_ip_rcv 5.0×); bpftrace's programs 920 ns, dropspot on those same hooks 260 ns (**0.28** of bpftrace)",
		"| tp_btf/netif_rx | tp_netif_rx | 220 | 300 | – | 260 | 4000 | 100 | 2.6× | 1000 | 0.26 |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks\n\t%s", want)
		}
	}
	if !strings.Contains(md, "conntrack tracked nothing") {
		t.Error("a realistic block with no conntrack entries in A was not flagged")
	}
	// the targets judge the bare host only
	if !strings.Contains(md, "| TCP throughput ≥ 0.97× baseline | 0.930× | **missed** |") {
		t.Error("TCP target not judged on the bare host")
	}

	// The bare sections are the same whether or not the realistic shape
	// was measured beside them.
	var bare []ThroughputSample
	for _, s := range unitRealistic() {
		if s.Host == "" {
			bare = append(bare, s)
		}
	}
	bareOnly := unitRealisticResults(bare)
	bareOnly.HostChecks, bareOnly.Accuracy = nil, bareOnly.Accuracy[:1]
	bareOnly.Hooks = unitHooks()
	bmd := bareOnly.Markdown(options{hosts: []string{hostBare}})
	section := func(md, from, to string) string {
		i := strings.Index(md, from)
		j := strings.Index(md[i:], to)
		if i < 0 || j < 0 {
			t.Fatalf("no section %q … %q in\n%s", from, to, md)
		}
		return md[i : i+j]
	}
	if a, b := section(md, "## Throughput (", "## Throughput, realistic"), section(bmd, "## Throughput (", "## Counting"); strings.TrimSpace(a) != strings.TrimSpace(b) {
		t.Errorf("bare throughput section changed by the realistic run:\n%s\n---- bare only:\n%s", a, b)
	}
	if a, b := section(md, "## Per-hook cost (", "## Per-hook cost, realistic"), section(bmd, "## Per-hook cost (", "## Targets"); strings.TrimSpace(a) != strings.TrimSpace(b) {
		t.Errorf("bare per-hook section changed by the realistic run:\n%s\n---- bare only:\n%s", a, b)
	}
	if strings.Contains(bmd, "realistic") || strings.Contains(bmd, "side by side") {
		t.Errorf("a bare-only run mentions the realistic host:\n%s", bmd)
	}
}

func TestCSVHostColumn(t *testing.T) {
	r := unitRealisticResults(unitRealistic())
	for _, csv := range []func() (string, [][]string){r.throughputCSV, r.hooksCSV} {
		name, rows := csv()
		last := len(rows[0]) - 1
		if rows[0][last] != "host" {
			t.Fatalf("%s: last column %q, want host", name, rows[0][last])
		}
		hosts := map[string]int{}
		for _, row := range rows[1:] {
			hosts[row[last]]++
		}
		if hosts[hostBare] == 0 || hosts[hostRealistic] == 0 || hosts[hostBare]+hosts[hostRealistic] != len(rows)-1 {
			t.Errorf("%s: host column values %v", name, hosts)
		}
	}
	_, rows := r.throughputCSV()
	if got := rows[len(rows)-2]; got[1] != "baseline" || got[0] != "1" || got[len(got)-1] != hostRealistic {
		t.Errorf("throughput.csv row %v, want the realistic baseline of rep 1", got)
	}
}
