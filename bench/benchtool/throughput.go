package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/dropspot/dropspot/internal/netns"
)

// Phase throughput: TCP and small-UDP rates with each tool attached against
// the baseline, repetitions interleaved; each dropspot run also checks its
// counts (accuracy.go). Its samples, throughput.csv, the Throughput section
// and the throughput targets are its.

type ThroughputSample struct {
	Rep        int     `json:"rep"`
	Tool       string  `json:"tool"`
	Host       string  `json:"host,omitempty"` // "" = bare (hostshape.go)
	StartupMS  float64 `json:"startup_ms,omitempty"`
	TCPGbps    float64 `json:"tcp_gbps"`
	UDPSent    uint64  `json:"udp_sent"`
	UDPRecv    uint64  `json:"udp_received"`
	UDPSentPPS float64 `json:"udp_sent_pps"`
	UDPRecvPPS float64 `json:"udp_received_pps"`
	disturbance
}

func (s ThroughputSample) repetition() int { return s.Rep }

var throughputMetrics = []metric[ThroughputSample]{
	{"tcp_gbps", func(s ThroughputSample) float64 { return s.TCPGbps }},
	{"udp64_sent_pps", func(s ThroughputSample) float64 { return s.UDPSentPPS }},
	{"udp64_received_pps", func(s ThroughputSample) float64 { return s.UDPRecvPPS }},
}

// throughputHosts are the host shapes measured ("" = bare), bare first.
func (r *Results) throughputHosts() []string {
	var hosts []string
	for _, h := range hostShapes {
		if slices.ContainsFunc(r.Throughput, func(s ThroughputSample) bool { return s.Host == hostKey(h) }) {
			hosts = append(hosts, hostKey(h))
		}
	}
	return hosts
}

func (s ThroughputSample) tool() string { return s.Tool }

func (b *bench) phaseThroughput() error {
	if v, _ := os.ReadFile("/proc/sys/kernel/bpf_stats_enabled"); strings.TrimSpace(string(v)) != "0" {
		b.res.Warnings = append(b.res.Warnings, "kernel.bpf_stats_enabled was on during the throughput phase (someone else turned it on): every BPF program paid for timing itself")
	}
	configs := b.opt.configs
	if b.res.Tcpdrop.Runnable {
		configs = append(configs, "tcpdrop")
	}
	return b.interleaved(b.opt.hosts, configs, func(host, cfg string, rep int) error {
		s, err := b.measureOnce(host, cfg, rep)
		if err != nil {
			return err
		}
		note := ""
		if !s.clean() {
			note = fmt.Sprintf("  [disturbed: %d foreign BPF programs %v, bpf_stats on: %v]", s.Foreign, s.ForeignNames, s.StatsOn)
		}
		b.logf("  rep %d %-9s %-9s TCP %6.2f Gbit/s  UDP sent %7.0f pps recv %7.0f pps%s", rep, host, cfg, s.TCPGbps, s.UDPSentPPS, s.UDPRecvPPS, note)
		b.res.Throughput = append(b.res.Throughput, s)
		return nil
	})
}

// interleaved measures every configuration on every host shape once per
// repetition, configurations in an order rotated each repetition (so no
// configuration always runs first or right after another), going on past
// failures and reporting them all.
func (b *bench) interleaved(hosts, configs []string, measure func(host, cfg string, rep int) error) error {
	var errs []string
	for rep := 0; rep < b.opt.reps; rep++ {
		err := b.overHosts("throughput", hosts, rep, func(host string) error {
			for i := range configs {
				cfg := configs[(i+rep)%len(configs)]
				if err := measure(host, cfg, rep); err != nil {
					errs = append(errs, fmt.Sprintf("rep %d %s %s: %v", rep, host, cfg, err))
					b.logf("  rep %d %s %-15s FAILED: %v", rep, host, cfg, err)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

func (b *bench) measureOnce(host, cfg string, rep int) (s ThroughputSample, err error) {
	s = ThroughputSample{Rep: rep, Tool: cfg, Host: hostKey(host)}
	var t *tool
	var jsonPath string
	// "dropspot:SET" hooks only SET (--stages; "+" for its commas).
	stages, counted := strings.CutPrefix(cfg, "dropspot:")
	switch {
	case cfg == "dropspot" || counted:
		var extra []string
		if counted {
			extra = []string{"--stages", strings.ReplaceAll(stages, "+", ",")}
		}
		jsonPath = filepath.Join(b.tmp, fmt.Sprintf("throughput-%d-%s-%s.json", rep, host, strings.ReplaceAll(cfg, ":", "-")))
		f, ferr := os.Create(jsonPath)
		if ferr != nil {
			return s, ferr
		}
		t, err = b.startDropspot(extra, f)
		f.Close()
	case cfg == "bpftrace":
		t, err = b.startBpftrace()
	case cfg == "tcpdrop":
		t, err = b.startTcpdrop()
	case cfg == "empty" || strings.HasPrefix(cfg, "empty-"):
		fam := "tp,nf,cg"
		if cfg != "empty" {
			fam = strings.TrimPrefix(cfg, "empty-")
		}
		_, t, err = b.startLabelled(cfg, "empty", "--netns", netns.Named(b.nsA)+","+netns.Named(b.nsB), "--cgroup", b.cgroup, "--families", fam)
	default:
		if cfg != "baseline" {
			return s, fmt.Errorf("unknown configuration %q", cfg)
		}
	}
	if err != nil {
		return s, err
	}
	var own []int
	if t != nil {
		s.StartupMS = ms(t.startup)
		own, _ = ownedBPF(t.p.pid())
	}
	mon := startMonitor(own)
	defer func() { s.disturbance = mon.finish() }()
	bps, err := b.tcpRun(b.opt.tcpSeconds)
	if err != nil {
		_ = t.stop()
		return s, err
	}
	s.TCPGbps = bps / 1e9
	u, err := b.udpRun(b.opt.udpSeconds)
	if err != nil {
		_ = t.stop()
		return s, err
	}
	s.UDPSent, s.UDPRecv = u.Send.Sent, u.Recv.Received
	s.UDPSentPPS = float64(u.Send.Sent) / u.Send.Seconds
	s.UDPRecvPPS = float64(u.Recv.Received) / u.Send.Seconds
	if err := t.stop(); err != nil {
		return s, err
	}
	if jsonPath != "" {
		netns, err := b.netnsInodes()
		if err != nil {
			return s, err
		}
		acc, err := accuracy(jsonPath, u, rep, netns)
		if err != nil {
			return s, err
		}
		acc.Host = s.Host
		b.res.Accuracy = append(b.res.Accuracy, acc)
		b.logf("  accuracy: sent %d, verdict %s", acc.Sent, acc.Verdict)
	}
	return s, nil
}

func (r *Results) throughputMarkdown(p printer) {
	p("## Throughput (single veth pair between two namespaces)\n\n")
	r.throughputTable(p, "")
	p("\ntcpdrop-bpfcc: %s\n\n", r.Tcpdrop.Status)
	if !slices.Contains(r.throughputHosts(), hostRealistic) {
		return
	}
	p("## Throughput, realistic host (%s)\n\n", realisticHostText())
	r.throughputTable(p, hostRealistic)
	p("\n")
	r.hostsSideBySide(p)
}

// throughputTable is the throughput table of one host shape ("" = bare).
func (r *Results) throughputTable(p printer, host string) {
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
		ds, _ := r.ratioOn(host, "dropspot", mt.key)
		bt, _ := r.ratioOn(host, "bpftrace", mt.key)
		em, _ := r.ratioOn(host, "empty", mt.key)
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
			tr, _ := r.ratioOn(host, "tcpdrop", mt.key)
			p("| … tcpdrop-bpfcc | | | | | | | | %s (ratio %s) |\n", spread(sc(tr.Value), format), spread(tr.Ratio, "%.3f"))
		}
	}
	onHost := slices.DeleteFunc(slices.Clone(r.Throughput), func(s ThroughputSample) bool { return s.Host != host })
	nDisturbed := disturbed(onHost)
	p("\n%d of %d measurements saw other people's BPF programs on the packet path or bpf_stats turned on (the machine is shared; see throughput.csv).", nDisturbed, len(onHost))
	if nDisturbed > 0 {
		p(" Ratios over the undisturbed repetitions only:")
		clean := 0
		for _, t := range []string{"dropspot", "bpftrace", "empty"} {
			a, _ := r.ratioOn(host, t, "tcp_gbps")
			c, _ := r.ratioOn(host, t, "udp64_sent_pps")
			if a.RatioClean.N > 0 || c.RatioClean.N > 0 {
				clean++
				p(" %s TCP %s, UDP %s (n=%d);", t, spread(a.RatioClean, "%.3f"), spread(c.RatioClean, "%.3f"), c.RatioClean.N)
			}
		}
		if clean == 0 {
			p(" none (in every repetition the configuration or its baseline was disturbed).")
		}
	}
	p("\n")
	var others []string
	seen := map[string]bool{"dropspot": true, "bpftrace": true, "empty": true}
	for _, x := range r.Summary.Ratios {
		if x.Host == host && !seen[x.Tool] {
			seen[x.Tool] = true
			others = append(others, x.Tool)
		}
	}
	if len(others) > 0 {
		p("\nOther configurations (same repetitions; empty-tp/-nf/-cg = empty programs on one hook family only):\n\n| configuration | TCP ratio | UDP 64 B sent ratio | UDP 64 B received ratio |\n|---|---|---|---|\n")
		for _, t := range others {
			a, _ := r.ratioOn(host, t, "tcp_gbps")
			b2, _ := r.ratioOn(host, t, "udp64_sent_pps")
			c, _ := r.ratioOn(host, t, "udp64_received_pps")
			p("| %s | %s | %s | %s |\n", t, spread(a.Ratio, "%.3f"), spread(b2.Ratio, "%.3f"), spread(c.Ratio, "%.3f"))
		}
	}
}

func (r *Results) throughputTargets(p printer) {
	if x, ok := r.ratio("dropspot", "tcp_gbps"); ok {
		p("| TCP throughput ≥ 0.97× baseline | %.3f× | %s |\n", x.Ratio.Median, verdict(x.Ratio.Median >= 0.97))
	}
	if x, ok := r.ratio("dropspot", "udp64_sent_pps"); ok {
		y, _ := r.ratio("dropspot", "udp64_received_pps")
		p("| small-UDP packet rate ≥ 0.90× baseline | %.3f× sent (%.3f× received) | %s |\n", x.Ratio.Median, y.Ratio.Median, verdict(x.Ratio.Median >= 0.90))
	}
}

func (r *Results) throughputCSV() (string, [][]string) {
	rows := [][]string{{"rep", "tool", "startup_ms", "tcp_gbps", "udp_sent", "udp_received", "udp_sent_pps", "udp_received_pps", "foreign_bpf_programs", "bpf_stats_on", "host"}}
	for _, s := range r.Throughput {
		rows = append(rows, []string{strconv.Itoa(s.Rep), s.Tool, csvFloat(s.StartupMS), csvFloat(s.TCPGbps), fmt.Sprint(s.UDPSent), fmt.Sprint(s.UDPRecv), csvFloat(s.UDPSentPPS), csvFloat(s.UDPRecvPPS), strconv.Itoa(s.Foreign), strconv.FormatBool(s.StatsOn), hostName(s.Host)})
	}
	return "throughput.csv", rows
}
