package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// The drop storm: what dropspot costs where it is most likely to be run —
// while a host drops packets — and what it keeps of every drop. A UDP
// flood to a port nobody listens on (every datagram dropped, NO_SOCKET, in
// namespace B) with dropspot counting only, streaming every drop as a JSON
// line (--events), writing every dropped packet to pcapng (-w), and with
// the bpftrace script (its three tracepoints count per flow, kfree_skb
// with the reason).
var dropStormConfigs = []string{"baseline", "dropspot", "dropspot-events", "dropspot-pcapng", "bpftrace"}

// dropStormRun is how a dropspot configuration runs and what it leaves to
// read afterwards.
type dropStormRun struct {
	flags  []string // watch flags; "-w" is followed by the capture's path
	report bool     // a JSON report on stdout (--events writes a text one on stderr)
	stream string   // "events": JSON lines on stdout; "pcapng": the -w file
}

var dropStormRuns = map[string]dropStormRun{
	"dropspot":        {flags: []string{"--json"}, report: true},
	"dropspot-events": {flags: []string{"--events"}, stream: "events"},
	"dropspot-pcapng": {flags: []string{"--json", "-w"}, report: true, stream: "pcapng"},
}

// DropStormSample is one configuration's run in one repetition.
type DropStormSample struct {
	Rep     int     `json:"rep"`
	Tool    string  `json:"tool"`
	Sent    uint64  `json:"sent"` // datagrams the sender's kernel accepted: all dropped
	SentPPS float64 `json:"sent_pps"`
	disturbance
	// What dropspot kept of the flood's drops. Its JSON report (none with
	// --events, whose report is text): the drops on the flood flow, by
	// "reason@stage", and what the drop table could not hold (host-wide:
	// drops not recorded, entries evicted). Its stream: the flood's drops
	// streamed (--events lines, -w packets), and what its event budget
	// throttled and its ring buffer lost (host-wide, one per dropped skb).
	FlowDrops       uint64            `json:"flow_drops,omitempty"`
	DropReasons     map[string]uint64 `json:"drop_reasons,omitempty"`
	DropsUnrecorded uint64            `json:"drops_unrecorded,omitempty"`
	DropsEvicted    uint64            `json:"drops_evicted,omitempty"`
	Streamed        uint64            `json:"streamed,omitempty"`
	Throttled       uint64            `json:"events_throttled,omitempty"`
	Lost            uint64            `json:"events_lost,omitempty"`
	ReportVerdict   string            `json:"report_verdict,omitempty"`
	StreamVerdict   string            `json:"stream_verdict,omitempty"`
}

func (s DropStormSample) repetition() int { return s.Rep }
func (s DropStormSample) tool() string    { return s.Tool }

func (b *bench) phaseDropStorm() error {
	return b.interleaved([]string{hostBare}, dropStormConfigs, func(_, cfg string, rep int) error {
		s, err := b.dropStormOnce(cfg, rep)
		if err != nil {
			return err
		}
		b.logf("  rep %d %-15s %7.0f pps dropped  report %s, stream %s", rep, cfg, s.SentPPS, orDash(s.ReportVerdict), orDash(s.StreamVerdict))
		b.res.DropStorm = append(b.res.DropStorm, s)
		return nil
	})
}

func (b *bench) dropStormOnce(cfg string, rep int) (s DropStormSample, err error) {
	s = DropStormSample{Rep: rep, Tool: cfg}
	out := filepath.Join(b.tmp, fmt.Sprintf("dropstorm-%s-%d.out", cfg, rep))
	pcap := filepath.Join(b.tmp, fmt.Sprintf("dropstorm-%d.pcapng", rep))
	var t *tool
	run, isDropspot := dropStormRuns[cfg]
	switch {
	case isDropspot:
		flags := run.flags
		if run.stream == "pcapng" {
			flags = append(slices.Clone(flags), pcap)
		}
		f, ferr := os.Create(out)
		if ferr != nil {
			return s, ferr
		}
		t, err = b.startWatch(flags, f)
		f.Close()
	case cfg == "bpftrace":
		t, err = b.startBpftrace()
	case cfg != "baseline":
		return s, fmt.Errorf("unknown drop-storm configuration %q", cfg)
	}
	if err != nil {
		return s, err
	}
	var own []int
	if t != nil {
		own, _ = ownedBPF(t.p.pid())
	}
	mon := startMonitor(own)
	r, err := b.udpDropRun(b.opt.udpSeconds)
	s.disturbance = mon.finish()
	if err != nil {
		_ = t.stop()
		return s, err
	}
	s.Sent, s.SentPPS = r.Sent, float64(r.Sent)/r.Seconds
	if err := t.stop(); err != nil {
		return s, err
	}
	if !isDropspot {
		return s, nil
	}
	netns, err := b.netnsInodes()
	if err != nil {
		return s, err
	}
	flood := floodFlow{sport: r.Sport, netns: netns[1]}
	return s, s.judge(run, flood, out, pcap, t.stderrPath)
}

// floodFlow is the drop storm's flow where its datagrams die: A → B's
// closed port, in namespace B.
type floodFlow struct {
	sport int
	netns uint32
}

func (f floodFlow) is(proto, src string, sport int, dst string, dport int, netns uint32) bool {
	return proto == "udp" && src == addrA && dst == addrB && sport == f.sport && strconv.Itoa(dport) == dropPort &&
		netns == f.netns
}

// judge reads what dropspot kept of the flood (its report, its stream) and
// says whether every dropped datagram is in it or in a counter of what it
// could not keep.
func (s *DropStormSample) judge(run dropStormRun, flood floodFlow, stdout, pcap, stderr string) error {
	if run.report {
		if err := s.readReport(flood, stdout); err != nil {
			return err
		}
		s.ReportVerdict = keptVerdict(s.Sent, s.FlowDrops, s.DropsUnrecorded)
		if s.ReportVerdict == "UNACCOUNTED" && s.DropsEvicted > 0 {
			// evicted entries are counted, their packets are not
			s.ReportVerdict += " (drop entries evicted)"
		}
	}
	var err error
	switch run.stream {
	case "events":
		err = s.readEvents(flood, stdout, stderr)
	case "pcapng":
		s.Streamed, err = capturedPackets(flood, pcap)
	default:
		return nil
	}
	if err != nil {
		return err
	}
	s.StreamVerdict = keptVerdict(s.Sent, s.Streamed, s.Throttled+s.Lost)
	return nil
}

// keptVerdict compares what was kept with what there was: "exact";
// "balanced", every missing one in a loss counter and nothing else there;
// "accounted", the counters hold at least the missing ones (they are
// host-wide: other drops on the host count there too); else "UNACCOUNTED".
func keptVerdict(want, kept, counted uint64) string {
	switch {
	case kept == want:
		return "exact"
	case kept < want && want-kept == counted:
		return "balanced"
	case kept < want && want-kept < counted:
		return "accounted"
	default:
		return "UNACCOUNTED"
	}
}

func (s *DropStormSample) readReport(flood floodFlow, path string) error {
	r, err := readReport(path)
	if err != nil {
		return err
	}
	s.DropReasons = map[string]uint64{}
	for _, f := range r.Flows {
		if flood.is(f.Proto, f.Src, int(f.Sport), f.Dst, int(f.Dport), f.Netns) {
			for _, d := range f.Drops {
				s.FlowDrops += d.Count
				s.DropReasons[d.Reason+"@"+d.Stage] += d.Count
			}
		}
	}
	o := r.Overflow
	s.DropsUnrecorded, s.DropsEvicted = o.DropsUnrecorded, o.DropsEvicted
	s.Throttled, s.Lost = o.EventsThrottled, o.EventsLost
	return nil
}

// dsEvent: the fields of a --events line the drop storm reads.
type dsEvent struct {
	Netns uint32 `json:"netns"`
	Flow  struct {
		Proto string `json:"proto"`
		Src   string `json:"src"`
		Sport int    `json:"sport"`
		Dst   string `json:"dst"`
		Dport int    `json:"dport"`
	} `json:"flow"`
}

var eventCountersRe = regexp.MustCompile(`events_lost=(\d+) events_throttled=(\d+)`)

// readEvents counts the flood's --events lines — one per dropped skb, as
// the throttled and lost counters count (a line's "packets" would count
// GSO segments) — and takes those counters from the text report on stderr.
func (s *DropStormSample) readEvents(flood floodFlow, events, stderr string) error {
	f, err := os.Open(events)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e dsEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return fmt.Errorf("--events line: %w", err)
		}
		if flood.is(e.Flow.Proto, e.Flow.Src, e.Flow.Sport, e.Flow.Dst, e.Flow.Dport, e.Netns) {
			s.Streamed++
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	text, err := os.ReadFile(stderr)
	if err != nil {
		return err
	}
	m := eventCountersRe.FindSubmatch(text)
	if m == nil {
		return errors.New("no event counters in the --events run's report")
	}
	s.Lost, _ = strconv.ParseUint(string(m[1]), 10, 64)
	s.Throttled, _ = strconv.ParseUint(string(m[2]), 10, 64)
	return nil
}

// capturedPackets counts the flood's datagrams in a -w capture: raw IP
// packets, each on an interface block named "DEV@netns:INODE". A drop
// whose bytes could not be read is not in the capture, nor in a counter:
// it shows as UNACCOUNTED, never as kept.
func capturedPackets(flood floodFlow, path string) (uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	r, err := pcapgo.NewNgReader(f, pcapgo.DefaultNgReaderOptions)
	if err != nil {
		return 0, fmt.Errorf("pcapng: %w", err)
	}
	var n uint64
	for {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("pcapng: %w", err)
		}
		iface, err := r.Interface(ci.InterfaceIndex)
		if err != nil {
			return n, fmt.Errorf("pcapng: %w", err)
		}
		_, ns, _ := strings.Cut(iface.Name, "@netns:")
		netns, _ := strconv.ParseUint(ns, 10, 32)
		p := gopacket.NewPacket(data, layers.LayerTypeIPv4, gopacket.NoCopy)
		ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		udp, _ := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if ip == nil || udp == nil {
			continue
		}
		src, _ := netip.AddrFromSlice(ip.SrcIP)
		dst, _ := netip.AddrFromSlice(ip.DstIP)
		if flood.is("udp", src.String(), int(udp.SrcPort), dst.String(), int(udp.DstPort), uint32(netns)) {
			n++
		}
	}
}

func (r *Results) dropStormMarkdown(p printer) {
	if len(r.DropStorm) == 0 {
		return
	}
	p("\n## Drop storm: UDP 64 B flood to a port nobody listens on (every datagram dropped, NO_SOCKET)\n\n")
	p("What dropspot costs while a host drops packets, and what it keeps of each drop. Ratios: configuration ÷ baseline of the same repetition.\n\n")
	p("| configuration | dropped (kpps) | ratio | ratio, undisturbed repetitions |\n|---|---|---|---|\n")
	for _, x := range r.Summary.DropStorm {
		p("| %s | %s (baseline %s) | **%s** | %s |\n", x.Tool, spread(x.Value.scaled(1e-3), "%.0f"), spread(x.Base.scaled(1e-3), "%.0f"),
			spread(x.Ratio, "%.3f"), spread(x.RatioClean, "%.3f"))
	}
	p("\n%d of %d measurements saw other people's BPF programs on the packet path or bpf_stats turned on.\n\n", disturbed(r.DropStorm), len(r.DropStorm))
	p("What each dropspot run kept of the flood's drops. Report: the drops on the flood flow in its JSON report (the --events run's report is text, not read) and the drop table's host-wide `drops_unrecorded`. Stream: the flood's --events lines or -w packets, and the host-wide `events_throttled` (over --events-rate, 1000/s per CPU by default) + `events_lost` (ring buffer full). Verdicts: exact; balanced (every missing one in the counters, nothing else there); accounted (the counters hold more: other drops on the host); UNACCOUNTED.\n\n")
	p("| rep | configuration | dropped | report: sent − counted | unrecorded | drop reasons | report | streamed | throttled + lost | stream |\n|---|---|---|---|---|---|---|---|---|---|\n")
	rows := slices.Clone(r.DropStorm)
	slices.SortStableFunc(rows, func(a, b DropStormSample) int {
		if a.Rep != b.Rep {
			return a.Rep - b.Rep
		}
		return slices.Index(dropStormConfigs, a.Tool) - slices.Index(dropStormConfigs, b.Tool)
	})
	for _, s := range rows {
		run, ok := dropStormRuns[s.Tool]
		if !ok {
			continue
		}
		missing, unrecorded, reasons, stream, counted := "–", "–", "–", "–", "–"
		if run.report {
			missing, unrecorded = fmt.Sprint(int64(s.Sent)-int64(s.FlowDrops)), fmt.Sprint(s.DropsUnrecorded)
			var rs []string
			for _, k := range slices.Sorted(maps.Keys(s.DropReasons)) {
				rs = append(rs, fmt.Sprintf("%s %d", k, s.DropReasons[k]))
			}
			if len(rs) > 0 {
				reasons = strings.Join(rs, ", ")
			}
		}
		if run.stream != "" {
			stream, counted = fmt.Sprint(s.Streamed), fmt.Sprint(s.Throttled+s.Lost)
		}
		p("| %d | %s | %d | %s | %s | %s | %s | %s | %s | %s |\n", s.Rep, s.Tool, s.Sent, missing, unrecorded, reasons,
			orDash(s.ReportVerdict), stream, counted, orDash(s.StreamVerdict))
	}
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

func (r *Results) dropStormCSV() (string, [][]string) {
	rows := [][]string{{"rep", "tool", "sent", "sent_pps", "flow_drops", "drops_unrecorded", "drops_evicted", "streamed", "events_throttled", "events_lost", "report_verdict", "stream_verdict", "foreign_bpf_programs", "bpf_stats_on"}}
	for _, s := range r.DropStorm {
		rows = append(rows, []string{strconv.Itoa(s.Rep), s.Tool, fmt.Sprint(s.Sent), csvFloat(s.SentPPS), fmt.Sprint(s.FlowDrops), fmt.Sprint(s.DropsUnrecorded), fmt.Sprint(s.DropsEvicted), fmt.Sprint(s.Streamed), fmt.Sprint(s.Throttled), fmt.Sprint(s.Lost), s.ReportVerdict, s.StreamVerdict, strconv.Itoa(s.Foreign), strconv.FormatBool(s.StatsOn)})
	}
	return "dropstorm.csv", rows
}
