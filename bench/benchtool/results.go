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
	HostChecks   []HostCheck        `json:"host_checks,omitempty"`
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

type Ratio struct {
	Tool    string  `json:"tool"`
	Host    string  `json:"host,omitempty"` // "" = bare (hostshape.go)
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
	r.Summary.Ratios = nil
	for _, host := range r.throughputHosts() {
		onHost := slices.DeleteFunc(slices.Clone(r.Throughput), func(s ThroughputSample) bool { return s.Host != host })
		for _, x := range ratios(onHost, throughputMetrics) {
			x.Host = host
			r.Summary.Ratios = append(r.Summary.Ratios, x)
		}
	}
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

// ratio is a configuration's ratio on the bare host shape.
func (r *Results) ratio(tool, metric string) (Ratio, bool) {
	return r.ratioOn("", tool, metric)
}

// ratioOn is a configuration's ratio on a host shape ("" = bare).
func (r *Results) ratioOn(host, tool, metric string) (Ratio, bool) {
	for _, x := range r.Summary.Ratios {
		if x.Host == host && x.Tool == tool && x.Metric == metric {
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
	r := b.res
	for _, phaseCSV := range []func() (string, [][]string){r.startupCSV, r.throughputCSV, r.dropStormCSV, r.hooksCSV, r.scaleCSV} {
		name, rows := phaseCSV()
		if err := writeCSV(filepath.Join(dir, name), rows); err != nil {
			return err
		}
	}
	md := b.res.Markdown(b.opt)
	if err := os.WriteFile(filepath.Join(dir, "results.md"), []byte(md), 0o644); err != nil {
		return err
	}
	fmt.Print(md)
	b.logf("results in %s", dir)
	return nil
}

func writeCSV(path string, rows [][]string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	_ = w.WriteAll(rows)
	return f.Close()
}

func csvFloat(x float64) string { return strconv.FormatFloat(x, 'f', -1, 64) }
