package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/dropspot/dropspot/internal/netns"
)

// Phase hooks: per-program run time (bpf_stats) of dropspot, the empty
// programs and bpftrace attached together, per traffic type. Its samples,
// hooks.csv, the Per-hook cost section and the per-hook targets are its.

// statsOn turns on the kernel's run time accounting of BPF programs
// (what bpftool shows as run_time_ns and run_cnt) while the closer is
// open. BPF_ENABLE_STATS holds a reference the kernel drops when the
// process dies: a killed run leaves nothing on, and it never switches
// accounting off under someone else, as restoring the sysctl could.
func statsOn() (io.Closer, error) {
	c, err := ebpf.EnableStats(unix.BPF_STATS_RUN_TIME)
	if err != nil {
		return nil, fmt.Errorf("BPF_ENABLE_STATS: %w", err)
	}
	return c, nil
}

type perfEntry struct {
	Pid        int    `json:"pid"`
	ProgID     int    `json:"prog_id"`
	FdType     string `json:"fd_type"`
	Tracepoint string `json:"tracepoint"`
}

type HookWindow struct {
	Traffic   string `json:"traffic"`
	Rep       int    `json:"rep"`
	RunTimeNS uint64 `json:"run_time_ns"`
	RunCnt    uint64 `json:"run_cnt"`
}

type HookProg struct {
	Tool          string       `json:"tool"`
	Host          string       `json:"host,omitempty"` // "" = bare (hostshape.go)
	ID            int          `json:"id"`
	Name          string       `json:"name"`
	Type          string       `json:"type"`
	Hook          string       `json:"hook"`
	XlatedBytes   int          `json:"bytes_xlated"`
	JitedBytes    int          `json:"bytes_jited"`
	VerifiedInsns int          `json:"verified_insns"`
	Windows       []HookWindow `json:"windows"`
}

// nsPerRun is the median over windows of one traffic type ("" = all
// windows pooled: total time / total runs).
func (h *HookProg) nsPerRun(traffic string) (float64, uint64) {
	if traffic == "" {
		var t, c uint64
		for _, w := range h.Windows {
			t += w.RunTimeNS
			c += w.RunCnt
		}
		if c == 0 {
			return 0, 0
		}
		return float64(t) / float64(c), c
	}
	var xs []float64
	var c uint64
	for _, w := range h.Windows {
		if w.Traffic == traffic && w.RunCnt > 0 {
			xs = append(xs, float64(w.RunTimeNS)/float64(w.RunCnt))
			c += w.RunCnt
		}
	}
	return summarize(xs).Median, c
}

// base is the kernel hook, the same for a tp_btf program and a bpftrace
// tracepoint program on the same event.
func (h *HookProg) base() string {
	s := h.Hook
	if i := strings.LastIndexAny(s, "/:"); i >= 0 {
		s = s[i+1:]
	}
	if strings.HasPrefix(h.Hook, "netfilter/") || strings.HasPrefix(h.Hook, "cgroup_skb/") {
		return h.Hook
	}
	return s
}

type ProfileResult struct {
	Program string `json:"program"`
	Command string `json:"command"`
	Output  string `json:"output"`
	Error   string `json:"error,omitempty"`
}

func (b *bench) phaseHooks() error {
	stats, err := statsOn()
	if err != nil {
		return err
	}
	defer stats.Close()
	return b.overHosts("hooks", b.opt.hosts, 0, b.hooksOn)
}

// hooksOn measures the per-hook cost on one host shape.
func (b *bench) hooksOn(host string) error {
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer devnull.Close()

	if b.opt.nat {
		if err := b.dnatDrops(); err != nil {
			return err
		}
	}
	emptyLabels, empty, err := b.startLabelled("empty", "empty", "--netns", netns.Named(b.nsA)+","+netns.Named(b.nsB), "--cgroup", b.cgroup)
	if err != nil {
		return err
	}
	defer empty.stop()
	ds, err := b.startDropspot(nil, devnull)
	if err != nil {
		return err
	}
	defer ds.stop()
	bt, err := b.startBpftrace()
	if err != nil {
		return err
	}
	defer bt.stop()

	progs := map[int]*HookProg{}
	var ids []int
	add := func(t *tool, label func(id int, name string) string) {
		own, _ := ownedBPF(t.p.pid())
		for id, st := range progStats(own) {
			progs[id] = &HookProg{Tool: t.kind, Host: hostKey(host), ID: id, Name: st.name, Type: st.typ, Hook: label(id, st.name),
				XlatedBytes: st.xlated, JitedBytes: st.jited, VerifiedInsns: st.verifiedIns}
			ids = append(ids, id)
		}
	}
	emptyHooks := map[int]string{}
	for _, l := range emptyLabels {
		emptyHooks[l.id] = l.label
	}
	add(empty, func(id int, _ string) string { return emptyHooks[id] })
	add(ds, func(_ int, name string) string { return dropspotHook(name) })
	var perf []perfEntry
	_ = bpftoolJSON(&perf, "perf", "show")
	btHooks := map[int]string{}
	for _, p := range perf {
		if p.Pid == bt.p.pid() && p.Tracepoint != "" {
			btHooks[p.ProgID] = p.Tracepoint
		}
	}
	add(bt, func(id int, _ string) string { return btHooks[id] })

	for rep := 0; rep < b.opt.hookReps; rep++ {
		for _, traffic := range []string{"tcp", "udp", "drop"} {
			before := progStats(ids)
			var err error
			switch traffic {
			case "tcp":
				_, err = b.tcpRun(b.opt.hookSeconds)
			case "udp":
				_, err = b.udpRun(b.opt.hookSeconds)
			case "drop":
				_, err = b.udpDropRun(b.opt.hookSeconds)
			}
			if err != nil {
				return err
			}
			after := progStats(ids)
			for id, hp := range progs {
				ns, runs := after[id].since(before[id])
				hp.Windows = append(hp.Windows, HookWindow{Traffic: traffic, Rep: rep, RunTimeNS: ns, RunCnt: runs})
			}
			b.logf("  hook window %d %s %s done", rep, host, traffic)
		}
	}
	for _, hp := range progs {
		b.res.Hooks = append(b.res.Hooks, *hp)
	}
	sort.Slice(b.res.Hooks, func(i, j int) bool {
		hi, hj := b.res.Hooks[i], b.res.Hooks[j]
		if hi.Host != hj.Host {
			return hi.Host < hj.Host
		}
		if hi.Tool != hj.Tool {
			return hi.Tool < hj.Tool
		}
		return hi.ID < hj.ID
	})
	if host == hostBare {
		b.profileTop(progs)
	}
	return nil
}

// profileTop tries `bpftool prog profile` on the dropspot program that
// spent the most time, and keeps the xlated dump of each dropspot program.
func (b *bench) profileTop(progs map[int]*HookProg) {
	var top *HookProg
	var topT uint64
	dir := filepath.Join(b.opt.outDir, "xlated")
	_ = os.MkdirAll(dir, 0o755)
	for id, hp := range progs {
		if hp.Tool != "dropspot" {
			continue
		}
		var t uint64
		for _, w := range hp.Windows {
			t += w.RunTimeNS
		}
		if t > topT {
			top, topT = hp, t
		}
		if out, err := run("bpftool", "prog", "dump", "xlated", "id", strconv.Itoa(id)); err == nil {
			_ = os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s.txt", hp.Name)), []byte(out), 0o644)
		}
	}
	if top == nil {
		return
	}
	cmd := exec.Command("bpftool", "prog", "profile", "id", strconv.Itoa(top.ID), "duration", "2", "cycles", "instructions")
	done := make(chan struct{})
	go func() {
		_, _ = b.tcpRun(3)
		close(done)
	}()
	out, err := cmd.CombinedOutput()
	<-done
	b.res.Profile = ProfileResult{Program: top.Name, Command: strings.Join(cmd.Args, " "), Output: strings.TrimSpace(string(out))}
	if err != nil {
		b.res.Profile.Error = err.Error()
	}
}

// hookAverages are the pooled ns per invocation the targets are about.
type hookAverages struct {
	ds, emptyMatched, bt, dsOnBtHooks float64
	dsRuns                            uint64
	worstName                         string
	worstRatio                        float64
}

func (r *Results) hookAverages() hookAverages { return r.hookAveragesOn("") }

// hookAveragesOn are the averages on one host shape ("" = bare).
func (r *Results) hookAveragesOn(host string) hookAverages {
	var a hookAverages
	empty := map[string]float64{}
	bt := map[string]bool{}
	var btT, btC float64
	for i := range r.Hooks {
		h := &r.Hooks[i]
		if h.Host != host {
			continue
		}
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
		if h.Tool != "dropspot" || h.Host != host {
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

func (r *Results) hooksMarkdown(p printer) {
	if len(r.Hooks) == 0 {
		return
	}
	p("\n## Per-hook cost (kernel.bpf_stats_enabled=1; dropspot, empty programs and bpftrace attached together)\n\n")
	r.hooksTable(p, "")
	if slices.ContainsFunc(r.Hooks, func(h HookProg) bool { return h.Host == hostRealistic }) {
		p("\n## Per-hook cost, realistic host (%s)\n\n", realisticHostText())
		r.hooksTable(p, hostRealistic)
	}
}

// hooksTable is the per-hook cost of one host shape ("" = bare).
func (r *Results) hooksTable(p printer, host string) {
	p("ns/run = run_time_ns ÷ run_cnt from `bpftool -j prog show`, median over windows per traffic type; \"all\" pools every window.\n\n")
	p("Traffic per window: TCP = iperf3; UDP = the 64 B flood to a listening socket; drop = the same flood to a port nobody listens on (every packet dropped, NO_SOCKET).\n\n")
	p("| hook | dropspot program | ns/run TCP | ns/run UDP | ns/run drop | ns/run all | runs | empty ns/run | × empty | bpftrace ns/run | ÷ bpftrace | xlated / jited B | verified insns |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	empty := map[string]*HookProg{}
	bt := map[string]*HookProg{}
	var dsProgs []*HookProg
	for i := range r.Hooks {
		h := &r.Hooks[i]
		if h.Host != host {
			continue
		}
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
		if h.Tool == "bpftrace" && h.Host == host {
			all, runs := h.nsPerRun("")
			tcp, _ := h.nsPerRun("tcp")
			udp, _ := h.nsPerRun("udp")
			drop, _ := h.nsPerRun("drop")
			p("| %s (bpftrace) | %s | %s | %s | %s | %s | %d | | | | | %d / %d | %d |\n", h.Hook, h.Name, num(tcp), num(udp), num(drop), num(all), runs, h.XlatedBytes, h.JitedBytes, h.VerifiedInsns)
		}
	}
	ha := r.hookAveragesOn(host)
	p("\nAverages per invocation (weighted by dropspot's own invocations): dropspot **%.0f ns**, the empty programs on the same hooks %.0f ns (**%.1f×**, worst hook %s %.1f×); bpftrace's programs %.0f ns, dropspot on those same hooks %.0f ns (**%.2f** of bpftrace), dropspot overall ÷ bpftrace **%.2f**.\n",
		ha.ds, ha.emptyMatched, safeDiv(ha.ds, ha.emptyMatched), ha.worstName, ha.worstRatio, ha.bt, ha.dsOnBtHooks, safeDiv(ha.dsOnBtHooks, ha.bt), safeDiv(ha.ds, ha.bt))
	if r.Profile.Command != "" && host == "" {
		p("\n`%s` (most expensive dropspot program, %s): ", r.Profile.Command, r.Profile.Program)
		if r.Profile.Error != "" {
			p("failed: %s — %s\n", r.Profile.Error, oneLine(r.Profile.Output))
		} else {
			p("\n\n```\n%s\n```\n", r.Profile.Output)
		}
	}
}

func (r *Results) hookTargets(p printer) {
	ha := r.hookAverages()
	if ha.ds > 0 && ha.emptyMatched > 0 {
		p("| per-hook cost ≤ 4× empty program on the same hook | %.1f× average (worst %s %.1f×) | %s |\n", ha.ds/ha.emptyMatched, ha.worstName, ha.worstRatio, verdict(ha.ds/ha.emptyMatched <= 4))
	}
	if ha.ds > 0 && ha.bt > 0 {
		p("| per-hook cost ≤ 1/5 of bpftrace's | %.0f ns vs %.0f ns = %.2f (same hooks: %.2f) | %s |\n", ha.ds, ha.bt, ha.ds/ha.bt, safeDiv(ha.dsOnBtHooks, ha.bt), verdict(ha.ds/ha.bt <= 0.2))
	}
}

func (r *Results) hooksCSV() (string, [][]string) {
	rows := [][]string{{"tool", "prog_id", "name", "hook", "traffic", "rep", "run_time_ns", "run_cnt", "ns_per_run", "bytes_xlated", "bytes_jited", "verified_insns", "host"}}
	for _, h := range r.Hooks {
		for _, w := range h.Windows {
			nspr := 0.0
			if w.RunCnt > 0 {
				nspr = float64(w.RunTimeNS) / float64(w.RunCnt)
			}
			rows = append(rows, []string{h.Tool, strconv.Itoa(h.ID), h.Name, h.Hook, w.Traffic, strconv.Itoa(w.Rep), fmt.Sprint(w.RunTimeNS), fmt.Sprint(w.RunCnt), csvFloat(nspr), strconv.Itoa(h.XlatedBytes), strconv.Itoa(h.JitedBytes), strconv.Itoa(h.VerifiedInsns), hostName(h.Host)})
		}
	}
	return "hooks.csv", rows
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

// dnatDrops makes namespace b translate the drop flood's port to another
// port nobody listens on (--nat): every packet of the drop window takes
// dropspot's NAT path (conntrack entry with a translation), and the TCP
// and UDP windows its conntrack path without one (the nat table makes
// conntrack run in b). The namespace goes at the end, and the rule with it.
func (b *bench) dnatDrops() error {
	port, _ := strconv.Atoi(dropPort)
	rule := fmt.Sprintf("table ip dsbench {\n\tchain pre { type nat hook prerouting priority dstnat; ip daddr %s udp dport %d dnat to %s:%d; }\n}\n",
		addrB, port, addrB, port+1)
	cmd := exec.Command("ip", "netns", "exec", b.nsB, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rule)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("nat rule in %s: %v: %s", b.nsB, err, out)
	}
	b.logf("  drop flood DNATed to port %d in %s", port+1, b.nsB)
	return nil
}
