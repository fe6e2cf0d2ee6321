package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/dropspot/dropspot/internal/netns"
	"github.com/dropspot/dropspot/internal/report"
	"github.com/dropspot/dropspot/internal/stage"
)

// ---- startup -------------------------------------------------------------

func (b *bench) phaseStartup() error {
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer devnull.Close()
	for i := 0; i < b.opt.startupReps; i++ {
		t, err := b.startDropspot(nil, devnull)
		if err != nil {
			return err
		}
		b.res.StartupMS = append(b.res.StartupMS, ms(t.startup))
		b.res.StartupNetns = append(b.res.StartupNetns, t.netns)
		if err := t.stop(); err != nil {
			return err
		}
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// ---- throughput + accuracy -----------------------------------------------

func (b *bench) phaseThroughput() error {
	if v, _ := os.ReadFile("/proc/sys/kernel/bpf_stats_enabled"); strings.TrimSpace(string(v)) != "0" {
		b.res.Warnings = append(b.res.Warnings, "kernel.bpf_stats_enabled was on during the throughput phase (someone else turned it on): every BPF program paid for timing itself")
	}
	configs := b.opt.configs
	if b.res.Tcpdrop.Runnable {
		configs = append(configs, "tcpdrop")
	}
	return b.interleaved(configs, func(cfg string, rep int) error {
		s, err := b.measureOnce(cfg, rep)
		if err != nil {
			return err
		}
		note := ""
		if !s.clean() {
			note = fmt.Sprintf("  [disturbed: %d foreign BPF programs %v, bpf_stats on: %v]", s.Foreign, s.ForeignNames, s.StatsOn)
		}
		b.logf("  rep %d %-9s TCP %6.2f Gbit/s  UDP sent %7.0f pps recv %7.0f pps%s", rep, cfg, s.TCPGbps, s.UDPSentPPS, s.UDPRecvPPS, note)
		b.res.Throughput = append(b.res.Throughput, s)
		return nil
	})
}

// interleaved measures every configuration once per repetition, in an
// order rotated each repetition (so no configuration always runs first or
// right after another), going on past failures and reporting them all.
func (b *bench) interleaved(configs []string, measure func(cfg string, rep int) error) error {
	var errs []string
	for rep := 0; rep < b.opt.reps; rep++ {
		for i := range configs {
			cfg := configs[(i+rep)%len(configs)]
			if err := measure(cfg, rep); err != nil {
				errs = append(errs, fmt.Sprintf("rep %d %s: %v", rep, cfg, err))
				b.logf("  rep %d %-15s FAILED: %v", rep, cfg, err)
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

func (b *bench) measureOnce(cfg string, rep int) (s ThroughputSample, err error) {
	s = ThroughputSample{Rep: rep, Tool: cfg}
	var t *tool
	var jsonPath string
	switch cfg {
	case "dropspot":
		jsonPath = filepath.Join(b.tmp, fmt.Sprintf("throughput-%d.json", rep))
		f, ferr := os.Create(jsonPath)
		if ferr != nil {
			return s, ferr
		}
		t, err = b.startDropspot(nil, f)
		f.Close()
	case "bpftrace":
		t, err = b.startBpftrace()
	case "tcpdrop":
		t, err = b.startTcpdrop()
	case "empty", "empty-tp", "empty-nf", "empty-cg":
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
	if cfg == "dropspot" {
		netns, err := b.netnsInodes()
		if err != nil {
			return s, err
		}
		acc, err := accuracy(jsonPath, u, rep, netns)
		if err != nil {
			return s, err
		}
		b.res.Accuracy = append(b.res.Accuracy, acc)
		b.logf("  accuracy: sent %d, verdict %s", acc.Sent, acc.Verdict)
	}
	return s, nil
}

// pathStages are the stages a datagram from A to B passes, in its order:
// out of A (ip.local_out … tx.done), into B (rx.driver … sock.rcv); not
// ip.forward.
var pathStages = func() []string {
	var names []string
	for _, s := range append(stage.All()[stage.IPLocalOut:], stage.All()[:stage.IPForward]...) {
		names = append(names, s.String())
	}
	return names
}()

// readReport reads a dropspot JSON report from a file.
func readReport(path string) (*report.Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return report.ReadJSON(f)
}

// overflowCounters are the report's numeric overflow counters by their
// JSON names, as results.json keeps them (unparsed_drops, a list, is not
// one).
func overflowCounters(o report.Overflow) map[string]uint64 {
	c := map[string]uint64{}
	v := reflect.ValueOf(o)
	for i := range v.NumField() {
		if f := v.Field(i); f.Kind() == reflect.Uint64 {
			name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("json"), ",")
			c[name] = f.Uint()
		}
	}
	return c
}

// accuracy compares the flood flow's per-stage counts with the datagrams
// the sender's kernel accepted. Only records in the benchmark's own
// namespaces (netns inodes) count: the host may carry other traffic.
func accuracy(path string, u udpRunResult, rep int, netns []uint32) (Accuracy, error) {
	a := Accuracy{Rep: rep, Sent: u.Send.Sent, Received: u.Recv.Received, Stages: map[string]uint64{},
		Missing: map[string]int64{}, DropReasons: map[string]uint64{}, Overflow: map[string]uint64{}}
	r, err := readReport(path)
	if err != nil {
		return a, err
	}
	dport, _ := strconv.Atoi(udpPort)
	found := 0
	for _, f := range r.Flows {
		if f.Proto != "udp" || f.Src != addrA || f.Dst != addrB || int(f.Sport) != u.Send.Sport || int(f.Dport) != dport ||
			!slices.Contains(netns, f.Netns) {
			continue
		}
		found++
		for st, n := range f.Stages {
			a.Stages[st] += n
		}
		for _, d := range f.Drops {
			a.FlowDrops += d.Count
			a.DropReasons[d.Reason+"@"+d.Stage] += d.Count
		}
	}
	a.Overflow = overflowCounters(r.Overflow)
	// the packets the report could not put in a flow
	o := r.Overflow
	a.OverflowLoss = o.EvictedFlows + o.FlowCreateFailed + o.DropsUnrecorded + o.TxDoneUnmatched + o.Unparsed
	if found == 0 {
		a.Verdict = "FLOW NOT FOUND"
		return a, nil
	}
	exact, accounted, compared := true, true, 0
	for _, st := range pathStages {
		n, ok := a.Stages[st]
		if !ok {
			continue // stage not hooked on this kernel
		}
		compared++
		miss := int64(a.Sent) - int64(n)
		a.Missing[st] = miss
		if miss != 0 {
			exact = false
		}
		if miss < 0 || uint64(miss) > a.FlowDrops+a.OverflowLoss {
			accounted = false
		}
	}
	switch {
	case compared == 0:
		a.Verdict = "NO PATH STAGE IN REPORT"
	case exact:
		a.Verdict = "exact"
	case accounted:
		a.Verdict = "accounted (drops/overflow cover every missing count)"
	default:
		a.Verdict = "UNACCOUNTED"
	}
	return a, nil
}

// ---- per-hook cost ---------------------------------------------------------

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

func (b *bench) phaseHooks() error {
	stats, err := statsOn()
	if err != nil {
		return err
	}
	defer stats.Close()
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer devnull.Close()

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
	add := func(t *tool, label func(id int, name string) string) {
		ids, _ := ownedBPF(t.p.pid())
		vi := verifiedInsns(t.p.pid())
		for _, id := range ids {
			progs[id] = &HookProg{Tool: t.kind, ID: id, VerifiedInsns: vi[id], label: label}
		}
	}
	add(empty, func(id int, _ string) string { return emptyLabels[id] })
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

	static, err := bpftoolProgs()
	if err != nil {
		return err
	}
	for id, hp := range progs {
		sp := static[id]
		hp.Name, hp.Type, hp.XlatedBytes, hp.JitedBytes = sp.Name, string(sp.Type), sp.BytesXlat, sp.BytesJited
		hp.Hook = hp.label(id, sp.Name)
	}
	for rep := 0; rep < b.opt.hookReps; rep++ {
		for _, traffic := range []string{"tcp", "udp", "drop"} {
			before, err := bpftoolProgs()
			if err != nil {
				return err
			}
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
			after, err := bpftoolProgs()
			if err != nil {
				return err
			}
			for id, hp := range progs {
				dt := after[id].RunTimeNS - before[id].RunTimeNS
				dc := after[id].RunCnt - before[id].RunCnt
				hp.Windows = append(hp.Windows, HookWindow{Traffic: traffic, Rep: rep, RunTimeNS: dt, RunCnt: dc})
			}
			b.logf("  hook window %d %s done", rep, traffic)
		}
	}
	for _, hp := range progs {
		b.res.Hooks = append(b.res.Hooks, *hp)
	}
	sort.Slice(b.res.Hooks, func(i, j int) bool {
		if b.res.Hooks[i].Tool != b.res.Hooks[j].Tool {
			return b.res.Hooks[i].Tool < b.res.Hooks[j].Tool
		}
		return b.res.Hooks[i].ID < b.res.Hooks[j].ID
	})
	b.profileTop(progs)
	return nil
}

// udpDropRun floods a port nobody listens on: every datagram is dropped
// (NO_SOCKET), so the drop hook runs once per packet. The ICMP errors
// back are rate limited by the kernel; the sender counts them as errors.
func (b *bench) udpDropRun(seconds float64) (sendResult, error) {
	var r sendResult
	err := runJSON(time.Duration(seconds+30)*time.Second, &r, "ip", "netns", "exec", b.nsA, b.self, "udpsend",
		"--dst", addrB+":"+dropPort, "--seconds", strconv.FormatFloat(seconds, 'f', -1, 64), "--size", "64")
	return r, err
}

// startLabelled starts a helper that loads programs, prints "prog ID
// LABEL" per program and then "ready" (empty, components).
func (b *bench) startLabelled(kind string, args ...string) (map[int]string, *tool, error) {
	cmd := exec.Command(b.self, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	t0 := time.Now()
	p, err := startProc(kind, cmd)
	if err != nil {
		return nil, nil, err
	}
	labels := map[int]string{}
	done := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			f := strings.SplitN(sc.Text(), " ", 3)
			if len(f) == 3 && f[0] == "prog" {
				id, _ := strconv.Atoi(f[1])
				labels[id] = f[2]
			}
			if len(f) == 1 && f[0] == "ready" {
				done <- nil
				_, _ = io.Copy(io.Discard, out)
				return
			}
		}
		done <- fmt.Errorf("%s: %s", kind, tail(stderr.String(), 600))
	}()
	select {
	case err := <-done:
		if err != nil {
			_ = p.wait(5 * time.Second)
			return nil, nil, err
		}
	case <-time.After(30 * time.Second):
		_ = p.stop(syscall.SIGKILL, time.Second)
		return nil, nil, fmt.Errorf("%s did not attach in 30s", kind)
	}
	return labels, &tool{kind: kind, p: p, startup: time.Since(t0)}, nil
}

// phaseComponents measures what single pieces of hook work cost here.
func (b *bench) phaseComponents() error {
	stats, err := statsOn()
	if err != nil {
		return err
	}
	defer stats.Close()
	labels, t, err := b.startLabelled("components", "components", "--hook", "net_dev_queue")
	if err != nil {
		return err
	}
	defer t.stop()
	res := map[int]*Component{}
	var ids []int
	for id, l := range labels {
		res[id] = &Component{ID: id, Label: l}
		ids = append(ids, id)
	}
	sort.Ints(ids)
	for rep := 0; rep < b.opt.hookReps; rep++ {
		before, err := bpftoolProgs()
		if err != nil {
			return err
		}
		if _, err := b.udpRun(b.opt.hookSeconds); err != nil {
			return err
		}
		after, err := bpftoolProgs()
		if err != nil {
			return err
		}
		for _, id := range ids {
			dt := after[id].RunTimeNS - before[id].RunTimeNS
			dc := after[id].RunCnt - before[id].RunCnt
			if dc > 0 {
				res[id].NsPerRun = append(res[id].NsPerRun, float64(dt)/float64(dc))
			}
		}
	}
	// the floor: the mean of the empty programs attached first and last
	// (a program's place in the hook's list shifts its ns/run a little)
	var empty float64
	var nempty int
	for _, id := range ids {
		c := res[id]
		c.Summary = summarize(c.NsPerRun)
		if strings.HasPrefix(c.Label, "empty") {
			empty += c.Summary.Median
			nempty++
		}
	}
	if nempty > 0 {
		empty /= float64(nempty)
	}
	for _, id := range ids {
		c := res[id]
		c.MinusEmpty = c.Summary.Median - empty
		b.res.Components = append(b.res.Components, *c)
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

// ---- scale ---------------------------------------------------------------------

// raisedMaxFlows is the raised --max-flows for n flows: n·1.25 (LRU
// tables evict before they are full) rounded up to 64 Ki, at least 128 Ki.
func raisedMaxFlows(n int) int {
	m := ((n*5+3)/4 + 65535) / 65536 * 65536
	if m < 131072 {
		m = 131072
	}
	return m
}

func (b *bench) phaseScale() error {
	var errs []string
	for _, n := range b.opt.scaleFlows {
		reps := b.opt.scaleReps
		if n >= 1_000_000 {
			reps = b.opt.scaleBigRep
		}
		for _, mf := range []int{0, raisedMaxFlows(n)} {
			for rep := 0; rep < reps; rep++ {
				s, err := b.scaleOnce(n, mf, rep)
				if err != nil {
					errs = append(errs, fmt.Sprintf("%d flows max %d: %v", n, mf, err))
					b.logf("  scale %d flows, max-flows %d FAILED: %v", n, mf, err)
					continue
				}
				b.logf("  scale %d flows, max-flows %d: entries %d evicted %d maps %.1f MiB report %.2fs (%.0f MB)",
					n, s.MaxFlows, s.Entries, s.Evicted, float64(s.MapBytes)/(1<<20), s.ReportSeconds, float64(s.ReportBytes)/1e6)
				b.res.Scale = append(b.res.Scale, s)
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

// streamTail reads a stream to EOF: its size, how many flow records it
// had, its last few MiB, and when it ended.
type streamTail struct {
	first   time.Time
	bytes   int64
	records int
	tail    []byte
	eof     time.Time
}

func readStream(r io.Reader) *streamTail {
	st := &streamTail{}
	pat := []byte(`"conn":`)
	buf := make([]byte, 1<<20)
	var carry []byte
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if st.bytes == 0 {
				st.first = time.Now()
			}
			chunk := buf[:n]
			st.bytes += int64(n)
			joined := append(carry, chunk...)
			st.records += bytes.Count(joined, pat)
			if len(joined) >= len(pat)-1 {
				carry = append([]byte(nil), joined[len(joined)-(len(pat)-1):]...)
			} else {
				carry = append([]byte(nil), joined...)
			}
			st.tail = append(st.tail, chunk...)
			if len(st.tail) > 8<<20 {
				st.tail = append([]byte(nil), st.tail[len(st.tail)-(4<<20):]...)
			}
		}
		if err != nil {
			st.eof = time.Now()
			return st
		}
	}
}

var entriesRe = regexp.MustCompile(`"flow_table_entries":\s*(\d+)`)

func (b *bench) scaleOnce(n, maxFlows, rep int) (ScaleSample, error) {
	s := ScaleSample{Flows: n, MaxFlows: maxFlows, Rep: rep}
	var extra []string
	if maxFlows > 0 {
		extra = []string{"--max-flows", strconv.Itoa(maxFlows)}
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return s, err
	}
	t, err := b.startDropspot(extra, pw)
	pw.Close()
	if err != nil {
		pr.Close()
		return s, err
	}
	stream := make(chan *streamTail, 1)
	go func() { stream <- readStream(pr); pr.Close() }()
	s.StartupMS = ms(t.startup)
	var fr floodResult
	if err := runJSON(300*time.Second, &fr, "ip", "netns", "exec", b.nsB, b.self, "tapflood",
		"--flows", strconv.Itoa(n), "--name", "dsbt"+b.sfx, "--addr", tapAddr); err != nil {
		_ = t.p.stop(syscall.SIGKILL, time.Second)
		return s, err
	}
	s.FloodPPS = fr.PPS
	time.Sleep(300 * time.Millisecond)
	_, mids := ownedBPF(t.p.pid())
	maps, err := bpftoolMaps()
	if err != nil {
		_ = t.p.stop(syscall.SIGKILL, time.Second)
		return s, err
	}
	flowsID := 0
	for _, id := range mids {
		m := maps[id]
		s.MapBytes += m.Memlock
		if m.Name == "flows" {
			s.FlowsMapBytes = m.Memlock
			s.MaxFlows = m.MaxEntries
			flowsID = id
		}
	}
	if flowsID != 0 {
		var mr mapReadResult
		if err := runJSON(600*time.Second, &mr, b.self, "mapread", "--id", strconv.Itoa(flowsID)); err != nil {
			b.logf("  mapread: %v", err)
		} else {
			s.IterateSeconds, s.BatchSeconds = mr.IterateSeconds, mr.BatchSeconds
		}
	}
	t0 := time.Now()
	_ = t.p.cmd.Process.Signal(syscall.SIGINT)
	var st *streamTail
	select {
	case st = <-stream:
	case <-time.After(600 * time.Second):
		_ = t.p.stop(syscall.SIGKILL, time.Second)
		return s, fmt.Errorf("report did not end within 600s")
	}
	s.ReportSeconds = st.eof.Sub(t0).Seconds()
	s.ReportBytes = st.bytes
	if !st.first.IsZero() {
		s.FirstByteSeconds = st.first.Sub(t0).Seconds()
	}
	s.Records = st.records
	if err := t.p.wait(60 * time.Second); err != nil {
		return s, fmt.Errorf("dropspot: %w", err)
	}
	if ru, ok := t.p.cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		s.MaxRSSKB = ru.Maxrss
	}
	s.UserSeconds = t.p.cmd.ProcessState.UserTime().Seconds()
	s.SysSeconds = t.p.cmd.ProcessState.SystemTime().Seconds()
	if m := entriesRe.FindSubmatch(st.tail); m != nil {
		s.Entries, _ = strconv.Atoi(string(m[1]))
	}
	if i := bytes.LastIndex(st.tail, []byte(`"overflow":`)); i >= 0 {
		var ov map[string]json.RawMessage
		if err := json.NewDecoder(bytes.NewReader(st.tail[i+len(`"overflow":`):])).Decode(&ov); err == nil {
			for k, v := range ov {
				var x uint64
				if json.Unmarshal(v, &x) == nil {
					switch k {
					case "evicted_flows":
						s.Evicted = x
					case "flows_created":
						s.Created = x
					case "flow_create_failed":
						s.CreateFailed = x
					}
				}
			}
		}
	} else {
		return s, fmt.Errorf("no overflow object in the report's last %d bytes", len(st.tail))
	}
	return s, nil
}
