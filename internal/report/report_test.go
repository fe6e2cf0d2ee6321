package report

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"github.com/cilium/ebpf/btf"

	"github.com/dropspot/dropspot/internal/dropreason"
	"github.com/dropspot/dropspot/internal/flow"
	"github.com/dropspot/dropspot/internal/hookplan"
	"github.com/dropspot/dropspot/internal/kallsyms"
	"github.com/dropspot/dropspot/internal/stage"
)

func allHooks(except ...stage.Stage) []hookplan.Hook {
	skip := map[stage.Stage]bool{}
	for _, s := range except {
		skip[s] = true
	}
	var hooks []hookplan.Hook
	for _, s := range stage.All() {
		if !skip[s] {
			hooks = append(hooks, hookplan.Hook{Stage: s, Name: "test/" + s.String()})
		}
	}
	return hooks
}

func counts(pairs map[stage.Stage]uint64) *flow.Counts {
	c := &flow.Counts{}
	for s, n := range pairs {
		c.Packets[s] = n
		c.Bytes[s] = n * 100
	}
	return c
}

var (
	a = netip.MustParseAddr("198.18.0.1")
	b = netip.MustParseAddr("198.18.0.2")
)

func TestLossAnalysis(t *testing.T) {
	in := flow.Key{Proto: 17, Src: a, Dst: b, Sport: 40000, Dport: 9999, Netns: 2}
	snap := &flow.Snapshot{
		Flows: map[flow.Key]*flow.Counts{
			in: counts(map[stage.Stage]uint64{stage.RxDriver: 200, stage.RxCore: 200, stage.IPRcv: 200,
				stage.IPLocalIn: 200, stage.L4Rcv: 20, stage.SockRcv: 20}),
		},
		Drops: []flow.Drop{
			{Flow: in, Stage: stage.IPLocalIn, HasStage: true, Reason: 0, Location: 0x10, Packets: 150},
			{Flow: in, Stage: stage.SockRcv, HasStage: true, Location: 0x20, Packets: 5},
		},
	}
	r := Build(snap, allHooks(), Namer{})
	if len(r.Flows) != 1 {
		t.Fatalf("flows: %+v", r.Flows)
	}
	f := r.Flows[0]
	if f.Path != "local-in" {
		t.Errorf("path %q", f.Path)
	}
	if len(f.Losses) != 2 {
		t.Fatalf("losses: %+v", f.Losses)
	}
	l := f.Losses[0]
	if l.From != "ip.local_in" || l.To != "l4.rcv" || l.Packets != 180 || l.Unexplained != 30 || len(l.Drops) != 1 || l.Drops[0].Count != 150 {
		t.Errorf("decrease: %+v", l)
	}
	after := f.Losses[1]
	if after.From != "sock.rcv" || after.To != "" || after.Packets != 5 || after.Unexplained != 0 {
		t.Errorf("drop after the path's end: %+v", after)
	}
	if f.Lost == nil || f.Lost.Packets != 180 {
		t.Errorf("largest loss: %+v", f.Lost)
	}
	// explained + unexplained = decrease, always.
	for _, l := range f.Losses {
		var explained uint64
		for _, d := range l.Drops {
			explained += d.Count
		}
		if min(explained, l.Packets)+l.Unexplained != l.Packets {
			t.Errorf("%+v: explained %d + unexplained %d != %d", l, explained, l.Unexplained, l.Packets)
		}
	}
}

func TestConnPairsDirectionsAndOrder(t *testing.T) {
	req := flow.Key{Proto: 1, Src: a, Dst: b, Sport: 7, Dport: 7, Netns: 1}
	quiet := flow.Key{Proto: 6, Src: a, Dst: b, Sport: 1, Dport: 2, Netns: 1}
	snap := &flow.Snapshot{Flows: map[flow.Key]*flow.Counts{
		req:           counts(map[stage.Stage]uint64{stage.IPLocalOut: 3, stage.IPPostrouting: 3, stage.TxQueue: 3, stage.TxXmit: 3, stage.TxDone: 3}),
		req.Reverse(): counts(map[stage.Stage]uint64{stage.RxDriver: 3, stage.RxCore: 3, stage.IPRcv: 3, stage.IPLocalIn: 2, stage.L4Rcv: 2}),
		quiet:         counts(map[stage.Stage]uint64{stage.IPLocalOut: 1, stage.IPPostrouting: 1, stage.TxQueue: 1, stage.TxXmit: 1, stage.TxDone: 1}),
	}}
	r := Build(snap, allHooks(), Namer{})
	if len(r.Flows) != 3 {
		t.Fatal(r.Flows)
	}
	if r.Flows[0].Src != b.String() || r.Flows[0].Lost == nil || r.Flows[0].Lost.From != "ip.rcv" {
		t.Errorf("the lossy direction must come first: %+v", r.Flows[0])
	}
	if r.Flows[0].Conn != r.Flows[1].Conn || r.Flows[2].Conn == r.Flows[0].Conn {
		t.Errorf("conn ids: %d %d %d", r.Flows[0].Conn, r.Flows[1].Conn, r.Flows[2].Conn)
	}
	// ICMP has no socket: no loss is claimed between l4.rcv and sock.rcv.
	for _, l := range r.Flows[0].Losses {
		if l.To == "sock.rcv" {
			t.Errorf("loss claimed at sock.rcv for ICMP: %+v", l)
		}
	}
}

// A stage the plan could not hook is absent from the JSON, never 0.
func TestUnhookedStageAbsent(t *testing.T) {
	k := flow.Key{Proto: 17, Src: a, Dst: b, Sport: 1, Dport: 2, Netns: 1}
	snap := &flow.Snapshot{Flows: map[flow.Key]*flow.Counts{k: counts(map[stage.Stage]uint64{stage.RxCore: 5, stage.IPRcv: 5})}}
	r := Build(snap, allHooks(stage.SockRcv, stage.RxDriver), Namer{})
	var buf bytes.Buffer
	if err := WriteJSON(&buf, r); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Flows []struct {
			Stages map[string]uint64 `json:"stages"`
			Drops  []any             `json:"drops"`
		} `json:"flows"`
		Overflow map[string]any `json:"overflow"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	st := doc.Flows[0].Stages
	if _, ok := st["sock.rcv"]; ok {
		t.Error("unhooked sock.rcv present")
	}
	if _, ok := st["rx.driver"]; ok {
		t.Error("unhooked rx.driver present")
	}
	if v, ok := st["ip.local_in"]; !ok || v != 0 {
		t.Errorf("hooked ip.local_in must be present as 0, got %v %v", v, ok)
	}
	if doc.Flows[0].Drops == nil {
		t.Error(`"drops" must be [] not null`)
	}
	for _, field := range []string{"evicted_flows", "unparsed"} {
		if _, ok := doc.Overflow[field]; !ok {
			t.Errorf("overflow.%s missing", field)
		}
	}
}

// Drops of a flow that no stage counted still make a flow record, and
// drops of unparsable packets land in overflow.
func TestDropsWithoutCounts(t *testing.T) {
	k := flow.Key{Proto: 17, Src: a, Dst: b, Sport: 1, Dport: 2, Netns: 1}
	snap := &flow.Snapshot{Flows: map[flow.Key]*flow.Counts{}, Drops: []flow.Drop{
		{Flow: k, Packets: 4, Location: 0x1},
		{Kind: flow.DropMalformedIP, Packets: 2, Location: 0x2},
	}}
	r := Build(snap, allHooks(), Namer{})
	if len(r.Flows) != 1 || r.Flows[0].Lost == nil || r.Flows[0].Lost.Packets != 4 || r.Flows[0].Drops[0].Stage != "unknown" {
		t.Errorf("flows: %+v", r.Flows)
	}
	if len(r.Overflow.UnparsedDrops) != 1 || r.Overflow.UnparsedDrops[0].Kind != "malformed" {
		t.Errorf("unparsed drops: %+v", r.Overflow.UnparsedDrops)
	}
	var text bytes.Buffer
	WriteText(&text, r, TextOptions{})
	if !strings.Contains(text.String(), "✗ UNKNOWN at 0x1: 4") {
		t.Errorf("text report:\n%s", text.String())
	}
}

// A saved JSON report renders again, as text and as a self-contained HTML
// page, the same as the original.
func TestReportRoundTrip(t *testing.T) {
	in := flow.Key{Proto: 17, Src: a, Dst: b, Sport: 40000, Dport: 5300, Netns: 2}
	snap := &flow.Snapshot{
		Flows: map[flow.Key]*flow.Counts{in: counts(map[stage.Stage]uint64{stage.RxDriver: 10, stage.RxCore: 10,
			stage.IPRcv: 10, stage.IPLocalIn: 10})},
		Drops: []flow.Drop{{Flow: in, Stage: stage.IPLocalIn, HasStage: true, Location: 0x10, Packets: 10}},
	}
	orig := Build(snap, allHooks(), Namer{})
	var saved, text1, text2, page bytes.Buffer
	if err := WriteJSON(&saved, orig); err != nil {
		t.Fatal(err)
	}
	WriteText(&text1, orig, TextOptions{})
	back, err := ReadJSON(&saved)
	if err != nil {
		t.Fatal(err)
	}
	WriteText(&text2, back, TextOptions{})
	if text1.String() != text2.String() {
		t.Errorf("text differs after a JSON round trip:\n%s\nvs\n%s", text1.String(), text2.String())
	}
	if err := WriteHTML(&page, back); err != nil {
		t.Fatal(err)
	}
	html := page.String()
	for _, want := range []string{"ip.local_in", "width: 100%", "width: 0%", "UNKNOWN at 0x10: 10", "lost between ip.local_in and l4.rcv: 10"} {
		if !strings.Contains(html, want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	for _, banned := range []string{"http://", "https://", "<script", "src="} {
		if strings.Contains(html, banned) {
			t.Errorf("HTML must work offline but contains %q", banned)
		}
	}
	if _, err := ReadJSON(strings.NewReader(`{"flows":[{"src":"nonsense"}]}`)); err == nil {
		t.Error("a malformed report was accepted")
	}
}

func TestNetfilterHookOfFirewallDrops(t *testing.T) {
	for st, want := range map[string]string{
		"ip.local_in":  "LOCAL_IN;",
		"ip.rcv":       "PRE_ROUTING;",
		"ip.local_out": "LOCAL_OUT or POST_ROUTING;",
		"tx.done":      "unknown hook;",
	} {
		if got := netfilterHook(st); !strings.HasPrefix(got, want) || !strings.Contains(got, "not observable") {
			t.Errorf("netfilterHook(%q) = %q", st, got)
		}
	}
}

// fixtureNamer names the reasons and functions benign frees are told by.
func fixtureNamer(t *testing.T) Namer {
	t.Helper()
	syms, err := kallsyms.Read(strings.NewReader("ffffffff81000000 T ping_rcv\n" +
		"ffffffff81001000 T tcp_data_queue\nffffffff81002000 T tcp_v4_rcv\n"))
	if err != nil {
		t.Fatal(err)
	}
	return Namer{Symbols: syms, Reasons: dropreason.FromEnum(&btf.Enum{Name: "skb_drop_reason", Values: []btf.EnumValue{
		{Name: "SKB_DROP_REASON_NOT_SPECIFIED", Value: 2}, {Name: "SKB_DROP_REASON_NO_SOCKET", Value: 3},
		{Name: "SKB_DROP_REASON_TCP_OLD_DATA", Value: 4},
	}})}
}

const (
	atPingRcv      = 0xffffffff810000b3
	atTCPDataQueue = 0xffffffff81001010
	atTCPRcv       = 0xffffffff81002099
	reasonNoSocket = 3
	reasonOldData  = 4
)

// An echo reply freed in ping_rcv is benign only as far as a raw socket
// received a copy (sock.rcv, less the replies a ping socket took); the
// rest stays a loss.
func TestBenignEchoReplies(t *testing.T) {
	for _, c := range []struct {
		name                  string
		l4Rcv, sockRcv, freed uint64
		benign                uint64
	}{
		{"raw socket's ping", 50, 50, 50, 50},
		{"two raw sockets", 50, 100, 50, 50},
		{"nobody asked", 20, 0, 20, 0},
		{"late replies to a ping socket", 20, 10, 10, 0},
		{"raw ping that ended early", 30, 20, 30, 20},
	} {
		k := flow.Key{Proto: 1, Src: b, Dst: a, Sport: 7, Dport: 7, Netns: 1}
		snap := &flow.Snapshot{
			Flows: map[flow.Key]*flow.Counts{k: counts(map[stage.Stage]uint64{stage.RxDriver: c.l4Rcv, stage.RxCore: c.l4Rcv,
				stage.IPRcv: c.l4Rcv, stage.IPLocalIn: c.l4Rcv, stage.L4Rcv: c.l4Rcv, stage.SockRcv: c.sockRcv})},
			Drops: []flow.Drop{{Flow: k, Reason: reasonNoSocket, Location: atPingRcv, Packets: c.freed}},
		}
		f := Build(snap, allHooks(), fixtureNamer(t)).Flows[0]
		var benign, lost uint64
		for _, d := range f.Benign {
			benign += d.Count
			if d.Reason != "NO_SOCKET" || d.Stage != "l4.rcv" || !strings.Contains(d.Explanation, "raw socket") {
				t.Errorf("%s: benign %+v", c.name, d)
			}
		}
		for _, l := range f.Losses {
			lost += l.Packets
		}
		if benign != c.benign || lost != c.freed-c.benign || dropsCount(f.Drops) != c.freed-c.benign {
			t.Errorf("%s: %d benign, %d lost, drops %+v; want %d benign", c.name, benign, lost, f.Drops, c.benign)
		}
	}
}

func dropsCount(drops []Drop) uint64 {
	var n uint64
	for _, d := range drops {
		n += d.Count
	}
	return n
}

// Benign frees explain their part of a decrease and take it out of the
// losses; they are in the JSON and the text, apart from the drops.
func TestBenignOutOfLosses(t *testing.T) {
	k := flow.Key{Proto: 6, Src: a, Dst: b, Sport: 40000, Dport: 80, Netns: 1}
	snap := &flow.Snapshot{
		Flows: map[flow.Key]*flow.Counts{k: counts(map[stage.Stage]uint64{stage.RxDriver: 10, stage.RxCore: 10,
			stage.IPRcv: 10, stage.IPLocalIn: 10, stage.L4Rcv: 10, stage.SockRcv: 7})},
		Drops: []flow.Drop{
			{Flow: k, Stage: stage.L4Rcv, HasStage: true, Reason: reasonOldData, Location: atTCPDataQueue, Packets: 1},
			{Flow: k, Stage: stage.L4Rcv, HasStage: true, Reason: 2, Location: atTCPRcv, Packets: 2},
		},
	}
	r := Build(snap, allHooks(), fixtureNamer(t))
	f := r.Flows[0]
	if len(f.Benign) != 1 || f.Benign[0].Reason != "TCP_OLD_DATA" || f.Benign[0].Count != 1 {
		t.Errorf("benign: %+v", f.Benign)
	}
	if len(f.Drops) != 1 || f.Drops[0].Reason != "NOT_SPECIFIED" {
		t.Errorf("drops: %+v", f.Drops)
	}
	if len(f.Losses) != 1 || f.Losses[0].Packets != 2 || f.Losses[0].Unexplained != 0 {
		t.Errorf("losses: %+v, want the 2 NOT_SPECIFIED only", f.Losses)
	}
	var js, text bytes.Buffer
	if err := WriteJSON(&js, r); err != nil {
		t.Fatal(err)
	}
	WriteText(&text, r, TextOptions{})
	if !strings.Contains(js.String(), `"benign":[{"reason":"TCP_OLD_DATA","stage":"l4.rcv","location":"tcp_data_queue+0x10","count":1,"explanation":"A retransmitted copy`) {
		t.Errorf("JSON:\n%s", js.String())
	}
	if !strings.Contains(text.String(), "  l4.rcv ○ benign TCP_OLD_DATA at tcp_data_queue+0x10: 1\n      A retransmitted copy") ||
		!strings.Contains(text.String(), "lost between l4.rcv and sock.rcv: 2\n") {
		t.Errorf("text:\n%s", text.String())
	}

	// Explained whole, a decrease is no loss at all.
	snap.Drops = snap.Drops[:1]
	snap.Flows[k].Packets[stage.SockRcv] = 9
	if f := Build(snap, allHooks(), fixtureNamer(t)).Flows[0]; len(f.Losses) != 0 || f.Lost != nil || len(f.Drops) != 0 {
		t.Errorf("losses %+v, drops %+v: want none", f.Losses, f.Drops)
	}
}

// A drop BPF could not place gets its stage from its function, as the
// plan's hooks see it.
func TestStageFromLocationFollowsPlan(t *testing.T) {
	syms, err := kallsyms.Read(strings.NewReader("ffffffff81000000 T ip_forward\nffffffff81001000 T ip_expire\n"))
	if err != nil {
		t.Fatal(err)
	}
	k := flow.Key{Proto: 17, Src: a, Dst: b, Sport: 1, Dport: 2, Netns: 1}
	fentry := allHooks()
	for i := range fentry {
		if fentry[i].Stage == stage.IPForward {
			fentry[i].Kind = hookplan.Fentry
		}
	}
	for _, c := range []struct {
		hooks []hookplan.Hook
		at    uint64
		want  string
	}{
		{allHooks(), 0xffffffff81000040, "ip.rcv"},
		{fentry, 0xffffffff81000040, "ip.forward"},
		{allHooks(), 0xffffffff81001068, "ip.rcv"},
	} {
		snap := &flow.Snapshot{Flows: map[flow.Key]*flow.Counts{}, Drops: []flow.Drop{{Flow: k, Location: c.at, Packets: 1}}}
		if got := Build(snap, c.hooks, Namer{Symbols: syms}).Flows[0].Drops[0]; got.Stage != c.want {
			t.Errorf("%s: stage %s, want %s", got.Location, got.Stage, c.want)
		}
	}
}

// A shortfall no drop explains names the runs the kernel skipped at the
// stage that came up short, when it skipped any there (a host-wide count:
// "any flow's"), and only then.
func TestUnexplainedLossNamesRunsMissed(t *testing.T) {
	k := flow.Key{Proto: 17, Src: a, Dst: b, Sport: 40000, Dport: 53, Netns: 1}
	snap := &flow.Snapshot{Flows: map[flow.Key]*flow.Counts{k: counts(map[stage.Stage]uint64{stage.RxDriver: 10,
		stage.RxCore: 10, stage.IPRcv: 10, stage.IPLocalIn: 10, stage.L4Rcv: 7, stage.SockRcv: 7})}}
	snap.Totals[stage.L4Rcv].RunsMissed = 4
	snap.Totals[stage.RxCore].RunsMissed = 9 // not where this flow came up short
	var text bytes.Buffer
	WriteText(&text, Build(snap, allHooks(), fixtureNamer(t)), TextOptions{})
	want := "  lost between ip.local_in and l4.rcv: 3 (3 without a kernel drop: still queued, consumed, or seen by an unhooked path; or among the 4 runs the kernel skipped at l4.rcv, any flow's)\n"
	if !strings.Contains(text.String(), want) {
		t.Errorf("text lacks %q:\n%s", want, text.String())
	}

	snap.Totals[stage.L4Rcv].RunsMissed = 0
	text.Reset()
	WriteText(&text, Build(snap, allHooks(), fixtureNamer(t)), TextOptions{})
	if want := "unhooked path)\n"; !strings.Contains(text.String(), want) || strings.Contains(text.String(), "runs the kernel skipped at") {
		t.Errorf("without runs missed at l4.rcv, want the plain line:\n%s", text.String())
	}
}
