package main

import (
	"fmt"
	"sort"
	"strings"
)

func spread(s summary, format string) string {
	if s.N == 0 {
		return "–"
	}
	if s.N == 1 {
		return fmt.Sprintf(format, s.Median)
	}
	return fmt.Sprintf(format+" ["+format+"–"+format+"]", s.Median, s.Min, s.Max)
}

// hookAverages are the pooled ns per invocation the targets are about.
type hookAverages struct {
	ds, emptyMatched, bt, dsOnBtHooks float64
	dsRuns                            uint64
	worstName                         string
	worstRatio                        float64
}

func (r *Results) hookAverages() hookAverages {
	var a hookAverages
	empty := map[string]float64{}
	bt := map[string]bool{}
	var btT, btC float64
	for i := range r.Hooks {
		h := &r.Hooks[i]
		ns, c := h.nsPerRun("")
		switch h.Tool {
		case "empty":
			if c > 0 {
				empty[h.base()] = ns
			}
		case "bpftrace":
			bt[h.base()] = true
			btT += ns * float64(c)
			btC += float64(c)
		}
	}
	if btC > 0 {
		a.bt = btT / btC
	}
	var dsT, dsC, emT, emC, dbT, dbC float64
	for i := range r.Hooks {
		h := &r.Hooks[i]
		if h.Tool != "dropspot" {
			continue
		}
		ns, c := h.nsPerRun("")
		if c == 0 {
			continue
		}
		dsT += ns * float64(c)
		dsC += float64(c)
		if e, ok := empty[h.base()]; ok && e > 0 {
			emT += e * float64(c)
			emC += float64(c)
			if c >= 1000 && ns/e > a.worstRatio {
				a.worstRatio, a.worstName = ns/e, h.Name
			}
		}
		if bt[h.base()] {
			dbT += ns * float64(c)
			dbC += float64(c)
		}
	}
	if dsC > 0 {
		a.ds, a.dsRuns = dsT/dsC, uint64(dsC)
	}
	if emC > 0 {
		a.emptyMatched = emT / emC
	}
	if dbC > 0 {
		a.dsOnBtHooks = dbT / dbC
	}
	return a
}

type scaleAgg struct {
	flows, maxFlows                                     int
	report, mapMiB, flowsMiB, startup, rssMiB, floodPPS summary
	entries, evicted, records                           summary
	reportMB, firstByte, user, sys, iter, batch         summary
}

func (r *Results) scaleAggs() []scaleAgg {
	type key struct{ f, m int }
	groups := map[key][]ScaleSample{}
	var keys []key
	for _, s := range r.Scale {
		k := key{s.Flows, s.MaxFlows}
		if groups[k] == nil {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], s)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].f != keys[j].f {
			return keys[i].f < keys[j].f
		}
		return keys[i].m < keys[j].m
	})
	var out []scaleAgg
	for _, k := range keys {
		col := func(get func(ScaleSample) float64) summary {
			var xs []float64
			for _, s := range groups[k] {
				xs = append(xs, get(s))
			}
			return summarize(xs)
		}
		out = append(out, scaleAgg{
			flows: k.f, maxFlows: k.m,
			report:    col(func(s ScaleSample) float64 { return s.ReportSeconds }),
			mapMiB:    col(func(s ScaleSample) float64 { return float64(s.MapBytes) / (1 << 20) }),
			flowsMiB:  col(func(s ScaleSample) float64 { return float64(s.FlowsMapBytes) / (1 << 20) }),
			startup:   col(func(s ScaleSample) float64 { return s.StartupMS }),
			rssMiB:    col(func(s ScaleSample) float64 { return float64(s.MaxRSSKB) / 1024 }),
			floodPPS:  col(func(s ScaleSample) float64 { return s.FloodPPS }),
			entries:   col(func(s ScaleSample) float64 { return float64(s.Entries) }),
			evicted:   col(func(s ScaleSample) float64 { return float64(s.Evicted) }),
			records:   col(func(s ScaleSample) float64 { return float64(s.Records) }),
			reportMB:  col(func(s ScaleSample) float64 { return float64(s.ReportBytes) / 1e6 }),
			firstByte: col(func(s ScaleSample) float64 { return s.FirstByteSeconds }),
			user:      col(func(s ScaleSample) float64 { return s.UserSeconds }),
			sys:       col(func(s ScaleSample) float64 { return s.SysSeconds }),
			iter:      col(func(s ScaleSample) float64 { return s.IterateSeconds }),
			batch:     col(func(s ScaleSample) float64 { return s.BatchSeconds }),
		})
	}
	return out
}

// Markdown renders the run as the tables BENCHMARKS.md quotes.
func (r *Results) Markdown(o options) string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	m := r.Machine
	p("# dropspot benchmark results\n\n")
	p("- command: `%s`\n", strings.TrimSpace(r.Command))
	p("- run: %s → %s (%.0f s)\n", r.Started.Format("2006-01-02 15:04:05Z"), r.Finished.Format("15:04:05Z"), r.Finished.Sub(r.Started).Seconds())
	p("- machine: %s, %d CPUs (%s), %s; %s\n", m.Kernel, m.CPUs, m.CPU, m.MemGiB, m.OS)
	p("- tools: %s\n", m.Tools)
	p("- dropspot measured: %s\n", m.Dropspot)
	p("- load average at start / end: %s / %s (other work on the machine shows here)\n", m.LoadAvgStart, m.LoadAvgEnd)
	p("- repetitions: throughput and drop storm %d (tools interleaved, order rotated each repetition), TCP %gs, UDP %gs; hook windows %d×%gs per traffic type; startup %d\n\n",
		o.reps, o.tcpSeconds, o.udpSeconds, o.hookReps, o.hookSeconds, o.startupReps)

	p("## Throughput (single veth pair between two namespaces)\n\n")
	p("Values: median [min–max] over repetitions. Ratios are tool ÷ baseline of the same repetition.\n\n")
	p("| case | baseline | dropspot (all stages + drops) | ratio | bpftrace flows.bt | ratio | empty programs on dropspot's hooks | ratio | tcpdrop-bpfcc |\n|---|---|---|---|---|---|---|---|---|\n")
	td := "not runnable here"
	if r.Tcpdrop.Runnable {
		td = "see ratio rows"
	}
	for _, mt := range []struct{ key, label, unit string }{
		{"tcp_gbps", "TCP single stream", "Gbit/s"},
		{"udp64_sent_pps", "UDP 64 B payload, sent", "kpps"},
		{"udp64_received_pps", "UDP 64 B payload, received", "kpps"},
	} {
		ds, _ := r.ratio("dropspot", mt.key)
		bt, _ := r.ratio("bpftrace", mt.key)
		em, _ := r.ratio("empty", mt.key)
		scale := 1.0
		format := "%.2f"
		if mt.unit == "kpps" {
			scale, format = 1e-3, "%.0f"
		}
		sc := func(s summary) summary { return s.scaled(scale) }
		basesum := ds.Base
		if basesum.N == 0 {
			basesum = bt.Base
		}
		p("| %s (%s) | %s | %s | **%s** | %s | **%s** | %s | %s | %s |\n", mt.label, mt.unit, spread(sc(basesum), format),
			spread(sc(ds.Value), format), spread(ds.Ratio, "%.3f"), spread(sc(bt.Value), format), spread(bt.Ratio, "%.3f"),
			spread(sc(em.Value), format), spread(em.Ratio, "%.3f"), td)
		if r.Tcpdrop.Runnable {
			tr, _ := r.ratio("tcpdrop", mt.key)
			p("| … tcpdrop-bpfcc | | | | | | | | %s (ratio %s) |\n", spread(sc(tr.Value), format), spread(tr.Ratio, "%.3f"))
		}
	}
	nDisturbed := disturbed(r.Throughput)
	p("\n%d of %d measurements saw other people's BPF programs on the packet path or bpf_stats turned on (the machine is shared; see throughput.csv).", nDisturbed, len(r.Throughput))
	if nDisturbed > 0 {
		p(" Ratios over the undisturbed repetitions only:")
		for _, t := range []string{"dropspot", "bpftrace", "empty"} {
			a, _ := r.ratio(t, "tcp_gbps")
			c, _ := r.ratio(t, "udp64_sent_pps")
			if a.RatioClean.N > 0 || c.RatioClean.N > 0 {
				p(" %s TCP %s, UDP %s (n=%d);", t, spread(a.RatioClean, "%.3f"), spread(c.RatioClean, "%.3f"), c.RatioClean.N)
			}
		}
	}
	p("\n")
	var others []string
	seen := map[string]bool{"dropspot": true, "bpftrace": true, "empty": true}
	for _, x := range r.Summary.Ratios {
		if !seen[x.Tool] {
			seen[x.Tool] = true
			others = append(others, x.Tool)
		}
	}
	if len(others) > 0 {
		p("\nOther configurations (same repetitions; empty-tp/-nf/-cg = empty programs on one hook family only):\n\n| configuration | TCP ratio | UDP 64 B sent ratio | UDP 64 B received ratio |\n|---|---|---|---|\n")
		for _, t := range others {
			a, _ := r.ratio(t, "tcp_gbps")
			b2, _ := r.ratio(t, "udp64_sent_pps")
			c, _ := r.ratio(t, "udp64_received_pps")
			p("| %s | %s | %s | %s |\n", t, spread(a.Ratio, "%.3f"), spread(b2.Ratio, "%.3f"), spread(c.Ratio, "%.3f"))
		}
	}
	p("\ntcpdrop-bpfcc: %s\n\n", r.Tcpdrop.Status)

	p("## Counting accuracy during the UDP flood (dropspot runs above)\n\n")
	p("| rep | datagrams sent | read by receiver | per-stage counts of the flood flow (sent − count) | drops on the flow | overflow loss counters | verdict |\n|---|---|---|---|---|---|---|\n")
	for _, a := range r.Accuracy {
		var miss []string
		for _, st := range pathStages {
			if v, ok := a.Missing[st]; ok {
				miss = append(miss, fmt.Sprintf("%s %d", st, v))
			}
		}
		var reasons []string
		for k, v := range a.DropReasons {
			reasons = append(reasons, fmt.Sprintf("%s %d", k, v))
		}
		sort.Strings(reasons)
		p("| %d | %d | %d | %s | %d %s | %d | %s |\n", a.Rep, a.Sent, a.Received, strings.Join(miss, ", "), a.FlowDrops, strings.Join(reasons, ", "), a.OverflowLoss, a.Verdict)
	}
	if len(r.DropStorm) > 0 {
		r.dropStormMarkdown(p)
	}

	p("\n## Per-hook cost (kernel.bpf_stats_enabled=1; dropspot, empty programs and bpftrace attached together)\n\n")
	p("ns/run = run_time_ns ÷ run_cnt from `bpftool -j prog show`, median over windows per traffic type; \"all\" pools every window.\n\n")
	p("Traffic per window: TCP = iperf3; UDP = the 64 B flood to a listening socket; drop = the same flood to a port nobody listens on (every packet dropped, NO_SOCKET).\n\n")
	p("| hook | dropspot program | ns/run TCP | ns/run UDP | ns/run drop | ns/run all | runs | empty ns/run | × empty | bpftrace ns/run | ÷ bpftrace | xlated / jited B | verified insns |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	empty := map[string]*HookProg{}
	bt := map[string]*HookProg{}
	var dsProgs []*HookProg
	for i := range r.Hooks {
		h := &r.Hooks[i]
		switch h.Tool {
		case "empty":
			empty[h.base()] = h
		case "bpftrace":
			bt[h.base()] = h
		case "dropspot":
			dsProgs = append(dsProgs, h)
		}
	}
	sort.Slice(dsProgs, func(i, j int) bool { return orderOf(dsProgs[i].Name) < orderOf(dsProgs[j].Name) })
	num := func(x float64) string {
		if x == 0 {
			return "–"
		}
		return fmt.Sprintf("%.0f", x)
	}
	for _, h := range dsProgs {
		tcp, _ := h.nsPerRun("tcp")
		udp, _ := h.nsPerRun("udp")
		drop, _ := h.nsPerRun("drop")
		all, runs := h.nsPerRun("")
		en, xe, bn, xb := "–", "–", "–", "–"
		if e := empty[h.base()]; e != nil {
			if v, c := e.nsPerRun(""); c > 0 {
				en = fmt.Sprintf("%.0f", v)
				if all > 0 {
					xe = fmt.Sprintf("%.1f×", all/v)
				}
			}
		}
		if t := bt[h.base()]; t != nil {
			if v, c := t.nsPerRun(""); c > 0 {
				bn = fmt.Sprintf("%.0f", v)
				if all > 0 {
					xb = fmt.Sprintf("%.2f", all/v)
				}
			}
		}
		few := ""
		if runs > 0 && runs < 1000 {
			few = " (few runs: noisy)"
		}
		p("| %s | %s | %s | %s | %s | %s%s | %d | %s | %s | %s | %s | %d / %d | %d |\n", h.Hook, h.Name, num(tcp), num(udp), num(drop), num(all), few, runs, en, xe, bn, xb, h.XlatedBytes, h.JitedBytes, h.VerifiedInsns)
	}
	for _, h := range r.Hooks {
		if h.Tool == "bpftrace" {
			all, runs := h.nsPerRun("")
			tcp, _ := h.nsPerRun("tcp")
			udp, _ := h.nsPerRun("udp")
			drop, _ := h.nsPerRun("drop")
			p("| %s (bpftrace) | %s | %s | %s | %s | %s | %d | | | | | %d / %d | %d |\n", h.Hook, h.Name, num(tcp), num(udp), num(drop), num(all), runs, h.XlatedBytes, h.JitedBytes, h.VerifiedInsns)
		}
	}
	ha := r.hookAverages()
	p("\nAverages per invocation (weighted by dropspot's own invocations): dropspot **%.0f ns**, the empty programs on the same hooks %.0f ns (**%.1f×**, worst hook %s %.1f×); bpftrace's programs %.0f ns, dropspot on those same hooks %.0f ns (**%.2f** of bpftrace), dropspot overall ÷ bpftrace **%.2f**.\n",
		ha.ds, ha.emptyMatched, safeDiv(ha.ds, ha.emptyMatched), ha.worstName, ha.worstRatio, ha.bt, ha.dsOnBtHooks, safeDiv(ha.dsOnBtHooks, ha.bt), safeDiv(ha.ds, ha.bt))
	if r.Profile.Command != "" {
		p("\n`%s` (most expensive dropspot program, %s): ", r.Profile.Command, r.Profile.Program)
		if r.Profile.Error != "" {
			p("failed: %s — %s\n", r.Profile.Error, oneLine(r.Profile.Output))
		} else {
			p("\n\n```\n%s\n```\n", r.Profile.Output)
		}
	}

	if len(r.Components) > 0 {
		p("\n### What single pieces of hook work cost here (phase components: one program each on tp_btf/net_dev_queue, UDP flood)\n\n")
		p("| work | ns/run median [min–max] | minus empty |\n|---|---|---|\n")
		for _, c := range r.Components {
			p("| %s | %s | %.0f |\n", c.Label, spread(c.Summary, "%.0f"), c.MinusEmpty)
		}
	}

	if kp := r.KProfile; kp != nil {
		p("\n### Where the UDP sender's CPU goes with dropspot attached (bpftrace profile:hz:999 kernel stacks of the sending process, whose softirqs run the whole veth receive path; %d samples, %d more in the receiving process)\n\n", kp.Samples, kp.ReceiverSamples)
		if !kp.clean() {
			p("Disturbed: %d foreign BPF programs on the path %v, bpf_stats on: %v.\n\n", kp.Foreign, kp.ForeignNames, kp.StatsOn)
		}
		p("| share of samples | where |\n|---|---|\n")
		type kv struct {
			k string
			v float64
		}
		var cats []kv
		for k, v := range kp.Categories {
			cats = append(cats, kv{k, v})
		}
		sort.Slice(cats, func(i, j int) bool { return cats[i].v > cats[j].v })
		for _, c := range cats {
			p("| %.1f%% | %s |\n", c.v, c.k)
		}
		p("\nPer dropspot program (inclusive): ")
		var parts []string
		for _, f := range kp.PerProgram {
			parts = append(parts, fmt.Sprintf("%s %.1f%%", f.Frame, f.Percent))
		}
		p("%s.\n\nInnermost frame of samples inside BPF programs (share of all samples): ", strings.Join(parts, ", "))
		parts = nil
		for _, f := range kp.HelperInBPF {
			parts = append(parts, fmt.Sprintf("%s %.1f%%", f.Frame, f.Percent))
		}
		p("%s.\n", strings.Join(parts, ", "))
	}

	p("\n## Scale: flow-table fill (UDP, one frame per distinct flow, written into a TAP device in the receiving namespace)\n\n")
	p("| flows sent | --max-flows | flow-table entries | evicted | map memory, all maps (MiB) | of which flows map (MiB) | report time after SIGINT (s) | of which before the first byte (s) | flows map read alone: one key at a time / batched (s) | report size (MB) | dropspot user / sys CPU (s) | dropspot max RSS (MiB) | startup (ms) | flood rate (kpps) |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, a := range r.scaleAggs() {
		p("| %d | %d | %s | %s | %s | %s | %s | %s | %.2f / %.2f | %s | %.1f / %.1f | %s | %s | %s |\n", a.flows, a.maxFlows, spread(a.entries, "%.0f"), spread(a.evicted, "%.0f"),
			spread(a.mapMiB, "%.1f"), spread(a.flowsMiB, "%.1f"), spread(a.report, "%.2f"), spread(a.firstByte, "%.2f"), a.iter.Median, a.batch.Median, spread(a.reportMB, "%.0f"),
			a.user.Median, a.sys.Median, spread(a.rssMiB, "%.0f"),
			spread(a.startup, "%.0f"), spread(a.floodPPS.scaled(1e-3), "%.0f"))
	}

	if up := r.UProfile; up != nil {
		p("\n### Where dropspot's CPU goes while it reports %d flows (bpftrace profile:hz:499 user stacks of dropspot from SIGINT to exit; report took %.2f s; %d samples)\n\n", up.Flows, up.ReportSeconds, up.Samples)
		p("| inclusive share | function |\n|---|---|\n")
		for _, f := range up.Inclusive {
			p("| %.1f%% | `%s` |\n", f.Percent, f.Frame)
		}
		var parts []string
		for _, f := range up.Leaf {
			parts = append(parts, fmt.Sprintf("`%s` %.1f%%", f.Frame, f.Percent))
		}
		p("\nInnermost frames: %s.\n", strings.Join(parts, ", "))
		if up.Note != "" {
			p("\n%s\n", up.Note)
		}
	}

	p("\n## Startup (exec → --ready-file, full plan loaded and attached)\n\n")
	p("%s ms over %d runs (median [min–max]); netfilter links in %v namespaces (all namespaces on the host)\n", spread(r.Summary.Startup, "%.0f"), r.Summary.Startup.N, r.StartupNetns)
	if sp := r.SProfile; sp != nil {
		p("\n### Where startup goes (bpftrace profile:hz:999 of dropspot from exec to ready, %d runs of %v ms; %d samples, %d of them in the kernel)\n\n", sp.Runs, sp.StartupMS, sp.Samples, sp.Kernel)
		p("| kernel, inclusive share of all samples | function |\n|---|---|\n")
		for _, f := range sp.KernelTop {
			p("| %.1f%% | `%s` |\n", f.Percent, f.Frame)
		}
		p("\n| user space, inclusive share | function |\n|---|---|\n")
		for _, f := range sp.UserTop {
			p("| %.1f%% | `%s` |\n", f.Percent, f.Frame)
		}
		if sp.Note != "" {
			p("\n%s\n", sp.Note)
		}
	}

	p("\n## Targets\n\n| target | measured | |\n|---|---|---|\n")
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "**missed**"
	}
	if x, ok := r.ratio("dropspot", "tcp_gbps"); ok {
		p("| TCP throughput ≥ 0.97× baseline | %.3f× | %s |\n", x.Ratio.Median, verdict(x.Ratio.Median >= 0.97))
	}
	if x, ok := r.ratio("dropspot", "udp64_sent_pps"); ok {
		y, _ := r.ratio("dropspot", "udp64_received_pps")
		p("| small-UDP packet rate ≥ 0.90× baseline | %.3f× sent (%.3f× received) | %s |\n", x.Ratio.Median, y.Ratio.Median, verdict(x.Ratio.Median >= 0.90))
	}
	if ha.ds > 0 && ha.emptyMatched > 0 {
		p("| per-hook cost ≤ 4× empty program on the same hook | %.1f× average (worst %s %.1f×) | %s |\n", ha.ds/ha.emptyMatched, ha.worstName, ha.worstRatio, verdict(ha.ds/ha.emptyMatched <= 4))
	}
	if ha.ds > 0 && ha.bt > 0 {
		p("| per-hook cost ≤ 1/5 of bpftrace's | %.0f ns vs %.0f ns = %.2f (same hooks: %.2f) | %s |\n", ha.ds, ha.bt, ha.ds/ha.bt, safeDiv(ha.dsOnBtHooks, ha.bt), verdict(ha.ds/ha.bt <= 0.2))
	}
	var big *scaleAgg
	aggs := r.scaleAggs()
	for i := range aggs {
		a := &aggs[i]
		if a.flows >= 1_000_000 && a.maxFlows >= a.flows && (big == nil || a.maxFlows > big.maxFlows) {
			big = a
		}
	}
	if big != nil {
		p("| 10^6 flows within 256 MiB of maps | %.0f MiB (--max-flows %d) | %s |\n", big.mapMiB.Median, big.maxFlows, verdict(big.mapMiB.Median <= 256))
		p("| 10^6 flows reported in ≤ 1 s | %.2f s (%.0f MB of JSON) | %s |\n", big.report.Median, big.reportMB.Median, verdict(big.report.Median <= 1))
	}
	if r.Summary.Startup.N > 0 {
		v := verdict(r.Summary.Startup.Median <= 1000)
		if r.Summary.Startup.Median <= 1000 && r.Summary.Startup.Max > 1000 {
			v = "met by the median; the slowest run was over"
		}
		p("| full plan loaded and attached in ≤ 1 s | %.0f ms median, %.0f ms max | %s |\n", r.Summary.Startup.Median, r.Summary.Startup.Max, v)
	}
	if len(r.Warnings) > 0 {
		p("\n## Warnings\n\n")
		for _, w := range r.Warnings {
			p("- %s\n", w)
		}
	}
	if len(r.Errors) > 0 {
		p("\n## Errors\n\n")
		for _, e := range r.Errors {
			p("- %s\n", e)
		}
	}
	return b.String()
}

func safeDiv(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func oneLine(s string) string {
	return tail(strings.Join(strings.Fields(s), " "), 400)
}
