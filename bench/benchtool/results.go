package main

import (
	"crypto/sha256"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Results is everything one run measured; results.json is this.
type Results struct {
	Command   string        `json:"command"`
	Started   time.Time     `json:"started"`
	Finished  time.Time     `json:"finished"`
	Machine   MachineInfo   `json:"machine"`
	Tcpdrop   TcpdropResult `json:"tcpdrop"`
	StartupMS []float64     `json:"startup_ms"`
	// StartupNetns: namespaces dropspot attached netfilter links in
	// (every namespace on the host, other people's included).
	StartupNetns []int              `json:"startup_netns"`
	Warnings     []string           `json:"warnings,omitempty"`
	Throughput   []ThroughputSample `json:"throughput"`
	DropStorm    []DropStormSample  `json:"drop_storm"`
	Accuracy     []Accuracy         `json:"accuracy"`
	Hooks        []HookProg         `json:"hooks"`
	Profile      ProfileResult      `json:"profile"`
	Components   []Component        `json:"components"`
	KProfile     *KProfile          `json:"kprofile,omitempty"`
	UProfile     *UProfile          `json:"uprofile,omitempty"`
	SProfile     *SProfile          `json:"sprofile,omitempty"`
	Scale        []ScaleSample      `json:"scale"`
	Errors       []string           `json:"errors,omitempty"`
	Summary      Summary            `json:"summary"`
}

type MachineInfo struct {
	Kernel       string `json:"kernel"`
	CPU          string `json:"cpu"`
	CPUs         int    `json:"cpus"`
	MemGiB       string `json:"mem"`
	OS           string `json:"os"`
	Tools        string `json:"tools"`
	LoadAvgStart string `json:"loadavg_start"`
	LoadAvgEnd   string `json:"loadavg_end"`
	Dropspot     string `json:"dropspot"`
}

type TcpdropResult struct {
	Runnable bool   `json:"runnable"`
	Status   string `json:"status"`
	Error    string `json:"error,omitempty"`
}

type ThroughputSample struct {
	Rep        int     `json:"rep"`
	Tool       string  `json:"tool"`
	StartupMS  float64 `json:"startup_ms,omitempty"`
	TCPGbps    float64 `json:"tcp_gbps"`
	UDPSent    uint64  `json:"udp_sent"`
	UDPRecv    uint64  `json:"udp_received"`
	UDPSentPPS float64 `json:"udp_sent_pps"`
	UDPRecvPPS float64 `json:"udp_received_pps"`
	disturbance
}

func (s ThroughputSample) repetition() int { return s.Rep }
func (s ThroughputSample) tool() string    { return s.Tool }

type Accuracy struct {
	Rep          int               `json:"rep"`
	Sent         uint64            `json:"sent"`
	Received     uint64            `json:"received_by_socket_reader"`
	Stages       map[string]uint64 `json:"stages"`
	Missing      map[string]int64  `json:"missing"`
	FlowDrops    uint64            `json:"flow_drops"`
	DropReasons  map[string]uint64 `json:"drop_reasons"`
	Overflow     map[string]uint64 `json:"overflow"`
	OverflowLoss uint64            `json:"overflow_loss"`
	Verdict      string            `json:"verdict"`
}

type HookWindow struct {
	Traffic   string `json:"traffic"`
	Rep       int    `json:"rep"`
	RunTimeNS uint64 `json:"run_time_ns"`
	RunCnt    uint64 `json:"run_cnt"`
}

type HookProg struct {
	Tool          string       `json:"tool"`
	ID            int          `json:"id"`
	Name          string       `json:"name"`
	Type          string       `json:"type"`
	Hook          string       `json:"hook"`
	XlatedBytes   int          `json:"bytes_xlated"`
	JitedBytes    int          `json:"bytes_jited"`
	VerifiedInsns int          `json:"verified_insns"`
	Windows       []HookWindow `json:"windows"`
	label         func(int, string) string
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

// Component is one piece of hook work measured alone (phase components).
type Component struct {
	ID         int       `json:"id"`
	Label      string    `json:"label"`
	NsPerRun   []float64 `json:"ns_per_run"`
	Summary    summary   `json:"summary"`
	MinusEmpty float64   `json:"ns_minus_empty"`
}

type ProfileResult struct {
	Program string `json:"program"`
	Command string `json:"command"`
	Output  string `json:"output"`
	Error   string `json:"error,omitempty"`
}

type ScaleSample struct {
	Flows         int     `json:"flows"`
	MaxFlows      int     `json:"max_flows"`
	Rep           int     `json:"rep"`
	StartupMS     float64 `json:"startup_ms"`
	FloodPPS      float64 `json:"flood_pps"`
	MapBytes      uint64  `json:"map_bytes_memlock"`
	FlowsMapBytes uint64  `json:"flows_map_bytes_memlock"`
	Entries       int     `json:"flow_table_entries"`
	Records       int     `json:"report_records"`
	Created       uint64  `json:"flows_created"`
	Evicted       uint64  `json:"evicted_flows"`
	CreateFailed  uint64  `json:"flow_create_failed"`
	ReportSeconds float64 `json:"report_seconds"`
	ReportBytes   int64   `json:"report_bytes"`
	// FirstByteSeconds: SIGINT to the report's first byte (snapshot,
	// build and encoding; the JSON encoder writes once at the end).
	FirstByteSeconds float64 `json:"first_byte_seconds"`
	UserSeconds      float64 `json:"user_cpu_seconds"`
	// the flows map read from outside while dropspot ran: one key at a
	// time (as an iterating snapshot does) and with BPF_MAP_LOOKUP_BATCH
	IterateSeconds float64 `json:"map_iterate_seconds"`
	BatchSeconds   float64 `json:"map_batch_seconds"`
	SysSeconds     float64 `json:"sys_cpu_seconds"`
	MaxRSSKB       int64   `json:"max_rss_kb"`
}

type Ratio struct {
	Tool    string  `json:"tool"`
	Metric  string  `json:"metric"`
	Base    summary `json:"baseline"`
	Value   summary `json:"value"`
	Ratio   summary `json:"ratio"` // per repetition: tool / baseline of the same repetition
	Samples int     `json:"samples"`
	// the repetitions where neither measurement saw foreign BPF programs
	// or bpf_stats on
	RatioClean summary `json:"ratio_clean"`
}

type Summary struct {
	Startup summary `json:"startup_ms"`
	Ratios  []Ratio `json:"ratios"`
	// DropStorm: the drop storm's sent (= dropped) packets/s, metric
	// "drop_pps"
	DropStorm []Ratio `json:"drop_storm_ratios"`
}

// dropspotInfo says which tree and binary were measured: the tree is
// edited while benchmarks run, so the commit alone is not enough.
func dropspotInfo(bin string) string {
	var parts []string
	if out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output(); err == nil {
		parts = append(parts, "commit "+strings.TrimSpace(string(out)))
	}
	if out, err := exec.Command("git", "status", "--porcelain", "--", ".", ":(exclude)bench").Output(); err == nil {
		if n := len(strings.Fields(strings.ReplaceAll(string(out), " ", "_"))); n > 0 {
			parts = append(parts, fmt.Sprintf("+%d uncommitted files", n))
		}
	}
	if data, err := os.ReadFile(bin); err == nil {
		sum := sha256.Sum256(data)
		parts = append(parts, fmt.Sprintf("binary %s sha256 %x", bin, sum[:6]))
	}
	return strings.Join(parts, ", ")
}

func machineInfo() MachineInfo {
	m := MachineInfo{CPUs: runtime.NumCPU(), LoadAvgStart: loadAvg()}
	if out, err := exec.Command("uname", "-srm").Output(); err == nil {
		m.Kernel = strings.TrimSpace(string(out))
	}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(l, "model name") {
				_, v, _ := strings.Cut(l, ":")
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		f := strings.Fields(string(data))
		if len(f) > 1 {
			kb, _ := strconv.ParseFloat(f[1], 64)
			m.MemGiB = fmt.Sprintf("%.1f GiB", kb/(1<<20))
		}
	}
	if data, err := os.ReadFile("/etc/os-release"); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(l, "PRETTY_NAME=") {
				m.OS = strings.Trim(strings.TrimPrefix(l, "PRETTY_NAME="), `"`)
			}
		}
	}
	var tools []string
	for _, c := range [][]string{{"iperf3", "--version"}, {"bpftrace", "--version"}, {"bpftool", "version"}} {
		out, err := exec.Command(c[0], c[1:]...).Output()
		if err == nil {
			tools = append(tools, strings.SplitN(strings.TrimSpace(string(out)), "\n", 2)[0])
		}
	}
	m.Tools = strings.Join(tools, "; ")
	return m
}

// Summarize computes the within-repetition ratios.
func (r *Results) Summarize() {
	r.Summary.Startup = summarize(r.StartupMS)
	r.Summary.Ratios = ratios(r.Throughput, []metric[ThroughputSample]{
		{"tcp_gbps", func(s ThroughputSample) float64 { return s.TCPGbps }},
		{"udp64_sent_pps", func(s ThroughputSample) float64 { return s.UDPSentPPS }},
		{"udp64_received_pps", func(s ThroughputSample) float64 { return s.UDPRecvPPS }},
	})
	r.Summary.DropStorm = ratios(r.DropStorm, []metric[DropStormSample]{
		{"drop_pps", func(s DropStormSample) float64 { return s.SentPPS }},
	})
}

// sample is one configuration's measurement in one repetition.
type sample interface {
	repetition() int
	tool() string
	clean() bool // see disturbance
}

type metric[S sample] struct {
	name string
	get  func(S) float64
}

// ratios divides each configuration's value by the baseline's of the same
// repetition: tools sorted by name, metrics in the order given.
func ratios[S sample](samples []S, metrics []metric[S]) []Ratio {
	base := map[int]S{}
	tools := map[string]bool{}
	for _, s := range samples {
		if s.tool() == "baseline" {
			base[s.repetition()] = s
		} else {
			tools[s.tool()] = true
		}
	}
	var out []Ratio
	for _, t := range slices.Sorted(maps.Keys(tools)) {
		for _, m := range metrics {
			var bs, vs, rs, cs []float64
			for _, s := range samples {
				b, ok := base[s.repetition()]
				if s.tool() != t || !ok || m.get(b) == 0 {
					continue
				}
				bs = append(bs, m.get(b))
				vs = append(vs, m.get(s))
				rs = append(rs, m.get(s)/m.get(b))
				if s.clean() && b.clean() {
					cs = append(cs, m.get(s)/m.get(b))
				}
			}
			out = append(out, Ratio{Tool: t, Metric: m.name, Base: summarize(bs),
				Value: summarize(vs), Ratio: summarize(rs), Samples: len(rs), RatioClean: summarize(cs)})
		}
	}
	return out
}

func (r *Results) ratio(tool, metric string) (Ratio, bool) {
	for _, x := range r.Summary.Ratios {
		if x.Tool == tool && x.Metric == metric {
			return x, x.Samples > 0
		}
	}
	return Ratio{}, false
}

func (b *bench) writeResults() error {
	dir := b.opt.outDir
	data, err := json.MarshalIndent(b.res, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), data, 0o644); err != nil {
		return err
	}
	writeCSV := func(name string, rows [][]string) error {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		w := csv.NewWriter(f)
		_ = w.WriteAll(rows)
		return f.Close()
	}
	f := func(x float64) string { return strconv.FormatFloat(x, 'f', -1, 64) }
	rows := [][]string{{"rep", "tool", "startup_ms", "tcp_gbps", "udp_sent", "udp_received", "udp_sent_pps", "udp_received_pps", "foreign_bpf_programs", "bpf_stats_on"}}
	for _, s := range b.res.Throughput {
		rows = append(rows, []string{strconv.Itoa(s.Rep), s.Tool, f(s.StartupMS), f(s.TCPGbps), fmt.Sprint(s.UDPSent), fmt.Sprint(s.UDPRecv), f(s.UDPSentPPS), f(s.UDPRecvPPS), strconv.Itoa(s.Foreign), strconv.FormatBool(s.StatsOn)})
	}
	if err := writeCSV("throughput.csv", rows); err != nil {
		return err
	}
	rows = [][]string{{"rep", "tool", "sent", "sent_pps", "flow_drops", "drops_unrecorded", "drops_evicted", "streamed", "events_throttled", "events_lost", "report_verdict", "stream_verdict", "foreign_bpf_programs", "bpf_stats_on"}}
	for _, s := range b.res.DropStorm {
		rows = append(rows, []string{strconv.Itoa(s.Rep), s.Tool, fmt.Sprint(s.Sent), f(s.SentPPS), fmt.Sprint(s.FlowDrops), fmt.Sprint(s.DropsUnrecorded), fmt.Sprint(s.DropsEvicted), fmt.Sprint(s.Streamed), fmt.Sprint(s.Throttled), fmt.Sprint(s.Lost), s.ReportVerdict, s.StreamVerdict, strconv.Itoa(s.Foreign), strconv.FormatBool(s.StatsOn)})
	}
	if err := writeCSV("dropstorm.csv", rows); err != nil {
		return err
	}
	rows = [][]string{{"tool", "prog_id", "name", "hook", "traffic", "rep", "run_time_ns", "run_cnt", "ns_per_run", "bytes_xlated", "bytes_jited", "verified_insns"}}
	for _, h := range b.res.Hooks {
		for _, w := range h.Windows {
			nspr := 0.0
			if w.RunCnt > 0 {
				nspr = float64(w.RunTimeNS) / float64(w.RunCnt)
			}
			rows = append(rows, []string{h.Tool, strconv.Itoa(h.ID), h.Name, h.Hook, w.Traffic, strconv.Itoa(w.Rep), fmt.Sprint(w.RunTimeNS), fmt.Sprint(w.RunCnt), f(nspr), strconv.Itoa(h.XlatedBytes), strconv.Itoa(h.JitedBytes), strconv.Itoa(h.VerifiedInsns)})
		}
	}
	if err := writeCSV("hooks.csv", rows); err != nil {
		return err
	}
	rows = [][]string{{"flows", "max_flows", "rep", "startup_ms", "flood_pps", "map_bytes_memlock", "flows_map_bytes_memlock", "flow_table_entries", "report_records", "flows_created", "evicted_flows", "flow_create_failed", "report_seconds", "first_byte_seconds", "report_bytes", "user_cpu_seconds", "sys_cpu_seconds", "max_rss_kb", "map_iterate_seconds", "map_batch_seconds"}}
	for _, s := range b.res.Scale {
		rows = append(rows, []string{strconv.Itoa(s.Flows), strconv.Itoa(s.MaxFlows), strconv.Itoa(s.Rep), f(s.StartupMS), f(s.FloodPPS), fmt.Sprint(s.MapBytes), fmt.Sprint(s.FlowsMapBytes), strconv.Itoa(s.Entries), strconv.Itoa(s.Records), fmt.Sprint(s.Created), fmt.Sprint(s.Evicted), fmt.Sprint(s.CreateFailed), f(s.ReportSeconds), f(s.FirstByteSeconds), fmt.Sprint(s.ReportBytes), f(s.UserSeconds), f(s.SysSeconds), fmt.Sprint(s.MaxRSSKB), f(s.IterateSeconds), f(s.BatchSeconds)})
	}
	if err := writeCSV("scale.csv", rows); err != nil {
		return err
	}
	rows = [][]string{{"rep", "startup_ms"}}
	for i, x := range b.res.StartupMS {
		rows = append(rows, []string{strconv.Itoa(i), f(x)})
	}
	if err := writeCSV("startup.csv", rows); err != nil {
		return err
	}
	md := b.res.Markdown(b.opt)
	if err := os.WriteFile(filepath.Join(dir, "results.md"), []byte(md), 0o644); err != nil {
		return err
	}
	fmt.Print(md)
	b.logf("results in %s", dir)
	return nil
}
