package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Sampling profiles with bpftrace's profile probe (perf cpu-clock events
// work here; fentry and `bpftool prog profile` do not).

// stackSample is one distinct stack, innermost frame first.
type stackSample struct {
	key    string // the map key before the stack (e.g. a pid), if any
	frames []string
	count  int
}

var (
	frameSuffix = regexp.MustCompile(`\+\d+$`)
	mapLine     = regexp.MustCompile(`^@\w*\[`)
)

// parseStacks reads bpftrace's printed map of stacks (kstack/ustack in
// perf format: "\t<hex addr> <symbol>[+off] [(<path>)]" per frame).
func parseStacks(out string, symbolize func(addr string) string) []stackSample {
	var res []stackSample
	var cur []string
	var key string
	in := false
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case mapLine.MatchString(line):
			in, cur = true, nil
			key = strings.TrimSuffix(strings.TrimSpace(line[strings.Index(line, "[")+1:]), ",")
		case in && strings.HasPrefix(line, "]: "):
			n, _ := strconv.Atoi(strings.TrimPrefix(line, "]: "))
			res = append(res, stackSample{key: key, frames: cur, count: n})
			in = false
		case in:
			f := strings.Fields(line)
			if len(f) < 2 {
				continue
			}
			sym := frameSuffix.ReplaceAllString(f[1], "")
			if symbolize != nil && (strings.HasPrefix(sym, "0x") || sym == "[unknown]") {
				sym = symbolize(f[0])
			}
			cur = append(cur, sym)
		}
	}
	return res
}

type FrameShare struct {
	Frame   string  `json:"frame"`
	Percent float64 `json:"percent"`
}

func topFrames(stacks []stackSample, leaf bool, n int, skip func(string) bool) ([]FrameShare, int) {
	counts := map[string]int{}
	total := 0
	for _, s := range stacks {
		total += s.count
		if leaf {
			if len(s.frames) > 0 {
				counts[s.frames[0]] += s.count
			}
			continue
		}
		seen := map[string]bool{}
		for _, f := range s.frames {
			if !seen[f] {
				seen[f] = true
				counts[f] += s.count
			}
		}
	}
	var out []FrameShare
	for f, c := range counts {
		if skip != nil && skip(f) {
			continue
		}
		out = append(out, FrameShare{f, 100 * float64(c) / float64(max(total, 1))})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Percent > out[j].Percent })
	if len(out) > n {
		out = out[:n]
	}
	return out, total
}

// startProfiler runs a bpftrace profile program; stop() returns its output.
func (b *bench) startProfiler(prog string) (*proc, *bytes.Buffer, error) {
	cmd := bpftraceCommand("-e", prog)
	buf := &bytes.Buffer{}
	cmd.Stdout = buf // read once the process has ended
	t, err := startTool("bpftrace profile", cmd, bpftraceAttached, 60*time.Second)
	if err != nil {
		return nil, nil, fmt.Errorf("bpftrace profile: %w", err)
	}
	return t.p, buf, nil
}

// KProfile: where the UDP sender's CPU goes with dropspot attached.
type KProfile struct {
	Samples         int `json:"samples"`
	ReceiverSamples int `json:"receiver_samples"`
	disturbance
	Categories  map[string]float64 `json:"categories_percent"`
	PerProgram  []FrameShare       `json:"per_program_percent"`
	Leaf        []FrameShare       `json:"leaf_percent"`
	HelperInBPF []FrameShare       `json:"inside_bpf_leaf_percent"`
}

// phaseKProfile samples kernel stacks of the UDP sender and receiver
// (the receive path runs in the sender's softirq on veth) while dropspot
// runs, and sorts the samples: inside dropspot's BPF programs (split by
// what the innermost frame is), in the hook dispatch around them, or
// elsewhere.
func (b *bench) phaseKProfile() error {
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer devnull.Close()
	ds, err := b.startDropspot(nil, devnull)
	if err != nil {
		return err
	}
	defer ds.stop()
	comm := filepath.Base(b.self)
	if len(comm) > 15 {
		comm = comm[:15]
	}
	prof, buf, err := b.startProfiler(fmt.Sprintf(`profile:hz:999 /comm == "%s"/ { @[pid, kstack(perf, 40)] = count(); }`, comm))
	if err != nil {
		return err
	}
	own, _ := ownedBPF(ds.p.pid())
	profIDs, _ := ownedBPF(prof.pid())
	mon := startMonitor(append(own, profIDs...))
	_, uerr := b.udpRun(b.opt.udpSeconds)
	mr := mon.finish()
	_ = stopBpftrace(prof, 60*time.Second)
	if uerr != nil {
		return uerr
	}
	_ = os.WriteFile(filepath.Join(b.opt.outDir, "kprofile-udp-dropspot.txt"), buf.Bytes(), 0o644)
	var kp0 KProfile
	all := parseStacks(buf.String(), nil)
	// keep the sender: the process whose stacks send (its softirqs run
	// the whole receive path on veth); the receiver only copies out
	senders := map[string]bool{}
	for _, s := range all {
		for _, f := range s.frames {
			if f == "udp_sendmsg" {
				senders[s.key] = true
			}
		}
	}
	var stacks []stackSample
	for _, s := range all {
		if senders[s.key] {
			stacks = append(stacks, s)
		} else {
			kp0.ReceiverSamples += s.count
		}
	}
	kp := kp0
	kp.Categories = map[string]float64{}
	kp.disturbance = mr
	progShare := map[string]int{}
	inside := []stackSample{}
	for _, s := range stacks {
		kp.Samples += s.count
		cat := "rest of the kernel and user space"
		prog := ""
		for _, f := range s.frames {
			if strings.HasPrefix(f, "bpf_prog_") {
				prog = f
				break
			}
		}
		dispatch := false
		for _, f := range s.frames {
			switch {
			case strings.HasPrefix(f, "bpf_trace_run"), f == "nf_hook_slow", f == "bpf_nf_link_run",
				strings.HasPrefix(f, "__cgroup_bpf_run_filter_skb"), f == "bpf_prog_run_array_cg":
				dispatch = true
			}
		}
		if prog != "" {
			// bpf_prog_<tag>_<name>
			name := prog
			if parts := strings.SplitN(prog, "_", 4); len(parts) == 4 {
				name = parts[3]
			}
			progShare[name] += s.count
			leaf := s.frames[0]
			switch {
			case strings.HasPrefix(leaf, "bpf_prog_"):
				cat = "BPF: program body (dropspot's own instructions)"
			case strings.Contains(leaf, "probe_read") || strings.Contains(leaf, "copy_from_kernel_nofault") ||
				strings.Contains(leaf, "nofault"):
				cat = "BPF: bpf_probe_read_kernel"
			case strings.Contains(leaf, "htab") || strings.Contains(leaf, "lookup_nulls_elem") ||
				strings.Contains(leaf, "jhash") || strings.Contains(leaf, "lru"):
				cat = "BPF: hash map lookup/update (flows, LRU)"
			default:
				cat = "BPF: other helpers and kernel code called from programs"
			}
			inside = append(inside, s)
		} else if dispatch {
			cat = "hook dispatch outside the programs (bpf_trace_run, nf_hook_slow, cgroup run)"
			switch s.frames[0] {
			case "sched_clock", "pvclock_clocksource_read_nowd", "kvm_sched_clock_read", "native_sched_clock", "pvclock_clocksource_read":
				cat = "bpf_stats timing around programs (sched_clock): bpf_stats was on"
			}
		}
		kp.Categories[cat] += float64(s.count)
	}
	for k, v := range kp.Categories {
		kp.Categories[k] = 100 * v / float64(max(kp.Samples, 1))
	}
	other := 0
	for name, c := range progShare {
		if !strings.HasPrefix(name, "tp_") && !strings.HasPrefix(name, "nf_") && !strings.HasPrefix(name, "cg_") {
			other += c
			continue
		}
		kp.PerProgram = append(kp.PerProgram, FrameShare{name, 100 * float64(c) / float64(max(kp.Samples, 1))})
	}
	if other > 0 {
		kp.PerProgram = append(kp.PerProgram, FrameShare{"(other programs)", 100 * float64(other) / float64(max(kp.Samples, 1))})
	}
	sort.Slice(kp.PerProgram, func(i, j int) bool { return kp.PerProgram[i].Percent > kp.PerProgram[j].Percent })
	kp.Leaf, _ = topFrames(stacks, true, 15, nil)
	insideLeaf, insideTotal := topFrames(inside, true, 12, nil)
	for i := range insideLeaf {
		insideLeaf[i].Percent = insideLeaf[i].Percent * float64(insideTotal) / float64(max(kp.Samples, 1))
	}
	kp.HelperInBPF = insideLeaf
	b.res.KProfile = &kp
	return nil
}

// UProfile: where dropspot's own CPU goes while it writes the report of a
// large flow table.
type UProfile struct {
	Flows         int          `json:"flows"`
	ReportSeconds float64      `json:"report_seconds"`
	Samples       int          `json:"samples"`
	Inclusive     []FrameShare `json:"inclusive_percent"`
	Leaf          []FrameShare `json:"leaf_percent"`
	Note          string       `json:"note,omitempty"`
}

var uninteresting = map[string]bool{
	"runtime.goexit": true, "runtime.main": true, "main.main": true, "runtime.systemstack": true,
	"github.com/dropspot/dropspot/internal/cli.Main": true, "runtime.mcall": true,
}

func (b *bench) phaseUProfile() error {
	n := b.opt.uprofileFlows
	pr, pw, err := os.Pipe()
	if err != nil {
		return err
	}
	t, err := b.startDropspot([]string{"--max-flows", strconv.Itoa(raisedMaxFlows(n))}, pw)
	pw.Close()
	if err != nil {
		pr.Close()
		return err
	}
	stream := make(chan *streamTail, 1)
	go func() { stream <- readStream(pr); pr.Close() }()
	var fr floodResult
	if err := runJSON(300*time.Second, &fr, "ip", "netns", "exec", b.nsB, b.self, "tapflood",
		"--flows", strconv.Itoa(n), "--name", "dsbt"+b.sfx, "--addr", tapAddr); err != nil {
		_ = t.p.stop(syscall.SIGKILL, time.Second)
		return err
	}
	prof, buf, err := b.startProfiler(fmt.Sprintf(`profile:hz:499 /pid == %d/ { @[ustack(perf, 24)] = count(); }`, t.p.pid()))
	if err != nil {
		_ = t.p.stop(syscall.SIGKILL, time.Second)
		return err
	}
	t0 := time.Now()
	_ = t.p.cmd.Process.Signal(syscall.SIGINT)
	st := <-stream
	_ = t.p.wait(60 * time.Second)
	_ = stopBpftrace(prof, 60*time.Second)
	_ = os.WriteFile(filepath.Join(b.opt.outDir, "uprofile-report.txt"), buf.Bytes(), 0o644)
	up := &UProfile{Flows: n, ReportSeconds: st.eof.Sub(t0).Seconds()}
	// the process is gone when bpftrace prints: symbolize from the binary
	symbolize, note := goSymbolizer(b.opt.dropspot, buf.String())
	up.Note = note
	stacks := parseStacks(buf.String(), symbolize)
	up.Inclusive, up.Samples = topFrames(stacks, false, 18, func(f string) bool {
		return uninteresting[f] || strings.HasPrefix(f, "0x") || strings.HasSuffix(f, "-fm") || f == "github.com/dropspot/dropspot/internal/cli.watch"
	})
	up.Leaf, _ = topFrames(stacks, true, 12, nil)
	b.res.UProfile = up
	return nil
}

// goSymbolizer resolves the user-space addresses in a bpftrace stack dump
// with `go tool addr2line` on the (non-PIE) Go binary.
func goSymbolizer(binary, dump string) (func(string) string, string) {
	ident := func(a string) string { return "0x" + a }
	addrs := regexp.MustCompile(`(?m)^\t([0-9a-f]+) `).FindAllStringSubmatch(dump, -1)
	if len(addrs) == 0 {
		return ident, ""
	}
	var in strings.Builder
	seen := map[string]bool{}
	var order []string
	for _, m := range addrs {
		if !seen[m[1]] {
			seen[m[1]] = true
			order = append(order, m[1])
			fmt.Fprintf(&in, "0x%s\n", m[1])
		}
	}
	cmd := exec.Command("go", "tool", "addr2line", binary)
	cmd.Stdin = strings.NewReader(in.String())
	out, err := cmd.Output()
	if err != nil {
		return ident, "go tool addr2line failed: " + err.Error()
	}
	syms := map[string]string{}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	for i, a := range order {
		if 2*i < len(lines) {
			syms[a] = lines[2*i]
		}
	}
	return func(a string) string {
		if s, ok := syms[a]; ok && s != "?" {
			return s
		}
		return "0x" + a
	}, ""
}

// SProfile: where dropspot's startup goes (user and kernel stacks).
type SProfile struct {
	Runs      int          `json:"runs"`
	StartupMS []float64    `json:"startup_ms"`
	Samples   int          `json:"samples"`
	Kernel    int          `json:"kernel_samples"`
	KernelTop []FrameShare `json:"kernel_inclusive_percent"`
	UserTop   []FrameShare `json:"user_inclusive_percent"`
	Note      string       `json:"note,omitempty"`
}

// phaseSProfile samples dropspot's stacks from exec to --ready-file.
func (b *bench) phaseSProfile() error {
	comm := filepath.Base(b.opt.dropspot)
	if len(comm) > 15 {
		comm = comm[:15]
	}
	prof, buf, err := b.startProfiler(fmt.Sprintf(`profile:hz:999 /comm == "%s"/ { @k[kstack(perf, 40)] = count(); @u[ustack(perf, 64)] = count(); }`, comm))
	if err != nil {
		return err
	}
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer devnull.Close()
	sp := &SProfile{Runs: 3}
	for i := 0; i < sp.Runs; i++ {
		t, err := b.startDropspot(nil, devnull)
		if err != nil {
			_ = stopBpftrace(prof, 30*time.Second)
			return err
		}
		sp.StartupMS = append(sp.StartupMS, ms(t.startup))
		// stop with SIGKILL: the profile is of startup, not of the report
		_ = t.p.stop(syscall.SIGKILL, 10*time.Second)
	}
	_ = stopBpftrace(prof, 60*time.Second)
	_ = os.WriteFile(filepath.Join(b.opt.outDir, "sprofile-startup.txt"), buf.Bytes(), 0o644)
	out := buf.String()
	ki := strings.Index(out, "@u[")
	kpart, upart := out, ""
	if ki >= 0 {
		kpart, upart = out[:ki], out[ki:]
	}
	symbolize, note := goSymbolizer(b.opt.dropspot, upart)
	sp.Note = note
	kst := parseStacks(kpart, nil)
	ust := parseStacks(upart, symbolize)
	skipK := func(f string) bool {
		return strings.HasPrefix(f, "entry_SYSCALL") || f == "do_syscall_64" || strings.HasPrefix(f, "0x")
	}
	skipU := func(f string) bool {
		return uninteresting[f] || strings.HasPrefix(f, "0x") || strings.HasSuffix(f, "-fm") || f == "github.com/dropspot/dropspot/internal/cli.watch" ||
			strings.HasPrefix(f, "runtime.") || strings.HasPrefix(f, "syscall.") || strings.HasPrefix(f, "internal/runtime")
	}
	sp.KernelTop, sp.Kernel = topFrames(kst, false, 14, skipK)
	var total int
	sp.UserTop, total = topFrames(ust, false, 16, skipU)
	sp.Samples = total
	// kernel shares relative to all samples (every sample has a user stack)
	for i := range sp.KernelTop {
		sp.KernelTop[i].Percent *= float64(sp.Kernel) / float64(max(total, 1))
	}
	b.res.SProfile = sp
	return nil
}

func (r *Results) kprofileMarkdown(p printer) {
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
}

func (r *Results) uprofileMarkdown(p printer) {
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
}

func (r *Results) sprofileMarkdown(p printer) {
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
}
