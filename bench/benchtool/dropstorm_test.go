package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/dropspot/dropspot/internal/capture"
	"github.com/dropspot/dropspot/internal/report"
)

func TestKeptVerdict(t *testing.T) {
	for _, tc := range []struct {
		want, kept, counted uint64
		verdict             string
	}{
		{100, 100, 0, "exact"},
		{100, 100, 50, "exact"},
		{100, 60, 40, "balanced"},
		{100, 60, 41, "accounted"}, // host-wide counters hold others' too
		{100, 60, 1000, "accounted"},
		{100, 60, 39, "UNACCOUNTED"},
		{100, 101, 0, "UNACCOUNTED"}, // kept more than there was
		{0, 0, 0, "exact"},
	} {
		if got := keptVerdict(tc.want, tc.kept, tc.counted); got != tc.verdict {
			t.Errorf("keptVerdict(%d, %d, %d) = %q, want %q", tc.want, tc.kept, tc.counted, got, tc.verdict)
		}
	}
}

const (
	stormSport = 41000
	stormNetns = 2 // namespace B, where the flood dies
)

var stormFlood = floodFlow{sport: stormSport, netns: stormNetns}

// TestDropStormReport: the flood flow's drops in namespace B, no one
// else's, against the drop table's counters.
func TestDropStormReport(t *testing.T) {
	dport := unitPort(dropPort)
	flood := func(netns uint32, sport, dport uint16, count uint64) report.Flow {
		return report.Flow{Proto: "udp", Src: addrA, Sport: sport, Dst: addrB, Dport: dport, Netns: netns,
			Drops: []report.Drop{{Reason: "NO_SOCKET", Stage: "l4.rcv", Count: count}}}
	}
	flows := []report.Flow{
		flood(stormNetns, stormSport, dport, 900),
		flood(1, stormSport, dport, 7), // the same flow in another namespace
		flood(stormNetns, stormSport+1, dport, 7),
		flood(stormNetns, stormSport, dport+1, 7),
	}
	flows[0].Drops = append(flows[0].Drops, report.Drop{Reason: "SOCKET_RCVBUFF", Stage: "sock.rcv", Count: 50})
	for _, tc := range []struct {
		name     string
		overflow map[string]any
		verdict  string
	}{
		{"the missing ones not recorded", map[string]any{"drops_unrecorded": 50}, "balanced"},
		{"no counter covers them", map[string]any{"drops_unrecorded": 49}, "UNACCOUNTED"},
		{"entries were evicted", map[string]any{"drops_evicted": 3}, "UNACCOUNTED (drop entries evicted)"},
		// the flows table's counters are no excuse for a missing drop
		{"flows evicted", map[string]any{"evicted_flows": 50, "flow_create_failed": 50}, "UNACCOUNTED"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := DropStormSample{Sent: 1000}
			if err := s.judge(dropStormRuns["dropspot"], stormFlood, unitWriteReport(t, flows, tc.overflow), "", ""); err != nil {
				t.Fatal(err)
			}
			reasons := map[string]uint64{"NO_SOCKET@l4.rcv": 900, "SOCKET_RCVBUFF@sock.rcv": 50}
			if s.FlowDrops != 950 || !reflect.DeepEqual(s.DropReasons, reasons) || s.ReportVerdict != tc.verdict || s.StreamVerdict != "" {
				t.Errorf("got drops %d %v, verdicts %q/%q; want 950 %v, %q and no stream verdict",
					s.FlowDrops, s.DropReasons, s.ReportVerdict, s.StreamVerdict, reasons, tc.verdict)
			}
		})
	}
}

// TestDropStormEvents: the flood's --events lines, and the counters from
// the text report dropspot writes on stderr.
func TestDropStormEvents(t *testing.T) {
	dir := t.TempDir()
	dport, _ := strconv.Atoi(dropPort)
	var lines []string
	event := func(netns uint64, sport, packets int) {
		e := map[string]any{"netns": netns, "packets": packets, "drop": map[string]any{"reason": "NO_SOCKET"},
			"flow": map[string]any{"proto": "udp", "src": addrA, "sport": sport, "dst": addrB, "dport": dport}}
		data, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, string(data))
	}
	for range 29 {
		event(stormNetns, stormSport, 1)
	}
	event(stormNetns, stormSport, 2) // a GSO skb: one event, as throttled counts it
	event(1, stormSport, 1)
	event(stormNetns, stormSport+1, 1)
	events := filepath.Join(dir, "events")
	writeFile(t, events, strings.Join(lines, "\n")+"\n")
	stderr := filepath.Join(dir, "stderr")
	f, err := os.Create(stderr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(f, "dropspot: ready: ...")
	if err := report.WriteText(f, &report.Report{Overflow: report.Overflow{EventsLost: 3, EventsThrottled: 67}}, report.TextOptions{}); err != nil {
		t.Fatal(err)
	}
	f.Close()

	run := dropStormRuns["dropspot-events"]
	for _, tc := range []struct {
		sent    uint64
		verdict string
	}{{100, "balanced"}, {99, "accounted"}, {101, "UNACCOUNTED"}, {30, "exact"}} {
		s := DropStormSample{Sent: tc.sent}
		if err := s.judge(run, stormFlood, events, "", stderr); err != nil {
			t.Fatal(err)
		}
		if s.Streamed != 30 || s.Lost != 3 || s.Throttled != 67 || s.StreamVerdict != tc.verdict || s.ReportVerdict != "" {
			t.Errorf("%d sent: got streamed %d, lost %d, throttled %d, verdicts %q/%q; want 30, 3, 67, %q and no report verdict",
				tc.sent, s.Streamed, s.Lost, s.Throttled, s.StreamVerdict, s.ReportVerdict, tc.verdict)
		}
	}

	var s DropStormSample
	writeFile(t, stderr, "dropspot: ready\n")
	if err := s.judge(run, stormFlood, events, "", stderr); err == nil {
		t.Error("a report without event counters was accepted")
	}
	writeFile(t, events, "{not json\n")
	if err := s.judge(run, stormFlood, events, "", stderr); err == nil {
		t.Error("a broken --events line was accepted")
	}
}

// TestDropStormCapture reads a capture written by dropspot's own pcapng
// writer: only the flood's datagrams on namespace B's interfaces count.
func TestDropStormCapture(t *testing.T) {
	dir := t.TempDir()
	pcap := filepath.Join(dir, "drops.pcapng")
	f, err := os.Create(pcap)
	if err != nil {
		t.Fatal(err)
	}
	w, err := capture.NewWriter(f, 128)
	if err != nil {
		t.Fatal(err)
	}
	dport, _ := strconv.Atoi(dropPort)
	add := func(netns uint32, ifindex uint32, src string, sport, dport int) {
		data := udpPacket(t, src, addrB, sport, dport)
		err := w.Write(capture.Packet{
			CaptureInfo: gopacket.CaptureInfo{Timestamp: time.Unix(0, 0), CaptureLength: len(data), Length: len(data)},
			Data:        data, Netns: netns, Ifindex: ifindex, Ifname: "dsbb0", Comment: "NO_SOCKET at l4.rcv",
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for range 5 {
		add(stormNetns, 7, addrA, stormSport, dport)
	}
	add(1, 7, addrA, stormSport, dport)                   // another namespace
	add(stormNetns, 7, addrA, stormSport+1, dport)        // another source port
	add(stormNetns, 7, "198.18.200.9", stormSport, dport) // another source
	add(stormNetns, 0, addrA, stormSport, dport)          // no device: no namespace known
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	rep := unitWriteReport(t, []report.Flow{{Proto: "udp", Src: addrA, Sport: stormSport, Dst: addrB, Dport: uint16(dport),
		Netns: stormNetns, Drops: []report.Drop{{Reason: "NO_SOCKET", Count: 10}}}}, map[string]any{"events_throttled": 5})

	s := DropStormSample{Sent: 10}
	if err := s.judge(dropStormRuns["dropspot-pcapng"], stormFlood, rep, pcap, ""); err != nil {
		t.Fatal(err)
	}
	if s.Streamed != 5 || s.Throttled != 5 || s.ReportVerdict != "exact" || s.StreamVerdict != "balanced" {
		t.Errorf("got captured %d, throttled %d, verdicts %q/%q; want 5, 5, exact, balanced",
			s.Streamed, s.Throttled, s.ReportVerdict, s.StreamVerdict)
	}
}

// udpPacket is an IPv4/UDP datagram with a 64-byte payload.
func udpPacket(t *testing.T, src, dst string, sport, dport int) []byte {
	t.Helper()
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: net.ParseIP(src), DstIP: net.ParseIP(dst)}
	udp := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, ip, udp, gopacket.Payload(make([]byte, 64))); err != nil {
		t.Fatal(fmt.Errorf("serialize: %w", err))
	}
	return buf.Bytes()
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestDropStormMarkdown(t *testing.T) {
	r := &Results{DropStorm: []DropStormSample{
		{Rep: 0, Tool: "baseline", Sent: 400_000, SentPPS: 200_000},
		{Rep: 0, Tool: "dropspot", Sent: 300_000, SentPPS: 150_000, FlowDrops: 300_000, ReportVerdict: "exact",
			DropReasons: map[string]uint64{"NO_SOCKET@l4.rcv": 300_000}},
		{Rep: 0, Tool: "dropspot-events", Sent: 280_000, SentPPS: 140_000, Streamed: 4_000, Throttled: 276_000, StreamVerdict: "balanced"},
		{Rep: 0, Tool: "bpftrace", Sent: 260_000, SentPPS: 130_000},
	}}
	r.Summarize()
	md := r.Markdown(options{reps: 1})
	for _, want := range []string{
		"## Drop storm",
		"| dropspot | 150 (baseline 200) | **0.750** | 0.750 |",
		"| dropspot-events | 140 (baseline 200) | **0.700** | 0.700 |",
		"| bpftrace | 130 (baseline 200) | **0.650** | 0.650 |",
		"| 0 | dropspot | 300000 | 0 | 0 | NO_SOCKET@l4.rcv 300000 | exact | – | – | – |",
		"| 0 | dropspot-events | 280000 | – | – | – | – | 4000 | 276000 | balanced |",
		"0 of 4 measurements saw other people's BPF programs",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q", want)
		}
	}
	if strings.Contains(md, "| 0 | bpftrace |") {
		t.Error("bpftrace has no drop-keeping row: it keeps counts only")
	}
}
