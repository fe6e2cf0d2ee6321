package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cilium/ebpf"
)

// Phase scale: the flow table filled with N flows from a TAP device, then
// the report timed. Its samples, scale.csv, the Scale section and the 10^6
// flow targets are its.

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
	flowsID := 0
	for _, id := range mids {
		info, err := mapInfo(id)
		if err != nil {
			_ = t.p.stop(syscall.SIGKILL, time.Second)
			return s, err
		}
		memlock, _ := info.Memlock()
		s.MapBytes += memlock
		if info.Name == "flows" {
			s.FlowsMapBytes, s.MaxFlows, flowsID = memlock, int(info.MaxEntries), id
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

func (r *Results) scaleMarkdown(p printer) {
	if len(r.Scale) == 0 {
		return
	}
	p("\n## Scale: flow-table fill (UDP, one frame per distinct flow, written into a TAP device in the receiving namespace)\n\n")
	p("| flows sent | --max-flows | flow-table entries | evicted | map memory, all maps (MiB) | of which flows map (MiB) | report time after SIGINT (s) | of which before the first byte (s) | flows map read alone: one key at a time / batched (s) | report size (MB) | dropspot user / sys CPU (s) | dropspot max RSS (MiB) | startup (ms) | flood rate (kpps) |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, a := range r.scaleAggs() {
		p("| %d | %d | %s | %s | %s | %s | %s | %s | %.2f / %.2f | %s | %.1f / %.1f | %s | %s | %s |\n", a.flows, a.maxFlows, spread(a.entries, "%.0f"), spread(a.evicted, "%.0f"),
			spread(a.mapMiB, "%.1f"), spread(a.flowsMiB, "%.1f"), spread(a.report, "%.2f"), spread(a.firstByte, "%.2f"), a.iter.Median, a.batch.Median, spread(a.reportMB, "%.0f"),
			a.user.Median, a.sys.Median, spread(a.rssMiB, "%.0f"),
			spread(a.startup, "%.0f"), spread(a.floodPPS.scaled(1e-3), "%.0f"))
	}
}

func (r *Results) scaleTargets(p printer) {
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
}

func (r *Results) scaleCSV() (string, [][]string) {
	rows := [][]string{{"flows", "max_flows", "rep", "startup_ms", "flood_pps", "map_bytes_memlock", "flows_map_bytes_memlock", "flow_table_entries", "report_records", "flows_created", "evicted_flows", "flow_create_failed", "report_seconds", "first_byte_seconds", "report_bytes", "user_cpu_seconds", "sys_cpu_seconds", "max_rss_kb", "map_iterate_seconds", "map_batch_seconds"}}
	for _, s := range r.Scale {
		rows = append(rows, []string{strconv.Itoa(s.Flows), strconv.Itoa(s.MaxFlows), strconv.Itoa(s.Rep), csvFloat(s.StartupMS), csvFloat(s.FloodPPS), fmt.Sprint(s.MapBytes), fmt.Sprint(s.FlowsMapBytes), strconv.Itoa(s.Entries), strconv.Itoa(s.Records), fmt.Sprint(s.Created), fmt.Sprint(s.Evicted), fmt.Sprint(s.CreateFailed), csvFloat(s.ReportSeconds), csvFloat(s.FirstByteSeconds), fmt.Sprint(s.ReportBytes), csvFloat(s.UserSeconds), csvFloat(s.SysSeconds), fmt.Sprint(s.MaxRSSKB), csvFloat(s.IterateSeconds), csvFloat(s.BatchSeconds)})
	}
	return "scale.csv", rows
}

func mapInfo(id int) (*ebpf.MapInfo, error) {
	m, err := ebpf.NewMapFromID(ebpf.MapID(id))
	if err != nil {
		return nil, fmt.Errorf("map %d: %w", id, err)
	}
	defer m.Close()
	return m.Info()
}
