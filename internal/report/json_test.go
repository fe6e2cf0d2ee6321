package report

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/cilium/ebpf/btf"

	"github.com/dropspot/dropspot/internal/dropreason"
	"github.com/dropspot/dropspot/internal/flow"
	"github.com/dropspot/dropspot/internal/hookplan"
	"github.com/dropspot/dropspot/internal/kallsyms"
	"github.com/dropspot/dropspot/internal/stage"
)

// awkwardReport has everything the JSON can hold: drops explained and not,
// netfilter drops, drops of no flow and of unparsable packets, IPv6,
// address zones, omitted and present omitempty fields, a bridged flow,
// a translated one, and strings that need escaping.
func awkwardReport(t *testing.T) (*Report, []hookplan.Hook) {
	t.Helper()
	syms, err := kallsyms.Read(strings.NewReader("ffffffff81000000 T nf_hook_slow\n" +
		"ffffffff81002000 T odd\"sym<&>\\é\x01\nffffffff81004000 T sk_stream_kill_queues\n"))
	if err != nil {
		t.Fatal(err)
	}
	in := flow.Key{Proto: 17, Src: a, Dst: b, Sport: 40000, Dport: 53, Netns: 2}
	v6 := flow.Key{Proto: 6, Src: netip.MustParseAddr("2001:db8::1"), Dst: netip.MustParseAddr("2001:db8::2"),
		Sport: 443, Dport: 50000, Netns: 3}
	zoned := flow.Key{Proto: 58, Src: netip.MustParseAddr("fe80::1%eth0"), Dst: netip.MustParseAddr("fe80::2"),
		Sport: 7, Dport: 7, Netns: 3}
	otherZone := zoned
	otherZone.Src = zoned.Src.WithZone("e\"<1>\x01é\u2028")
	bridged := flow.Key{Proto: 17, Src: a, Dst: b, Sport: 5, Dport: 6, Netns: 4}
	translated := flow.Key{Proto: 17, Src: a, Dst: b, Sport: 7, Dport: 80, Netns: 5}
	echo := map[stage.Stage]uint64{stage.IPLocalOut: 1, stage.IPPostrouting: 1, stage.TxQueue: 1, stage.TxXmit: 1}
	snap := &flow.Snapshot{
		Flows: map[flow.Key]*flow.Counts{
			in: counts(map[stage.Stage]uint64{stage.RxDriver: 9, stage.RxCore: 9, stage.IPRcv: 9, stage.IPLocalIn: 9,
				stage.L4Rcv: 4, stage.SockRcv: 4}),
			in.Reverse(): counts(map[stage.Stage]uint64{stage.IPLocalOut: 4, stage.IPPostrouting: 4, stage.TxQueue: 4, stage.TxXmit: 4}),
			v6: counts(map[stage.Stage]uint64{stage.RxDriver: 5, stage.RxCore: 5, stage.IPRcv: 5, stage.IPForward: 5,
				stage.IPPostrouting: 5, stage.TxQueue: 5, stage.TxXmit: 5}),
			zoned:     counts(echo),
			otherZone: counts(echo),
			bridged: counts(map[stage.Stage]uint64{stage.RxDriver: 3, stage.RxCore: 3, stage.TxQueue: 3,
				stage.TxXmit: 3}),
			translated: counts(map[stage.Stage]uint64{stage.RxDriver: 2, stage.RxCore: 2, stage.IPRcv: 2, stage.IPForward: 2}),
		},
		Bridged: map[flow.Key]flow.BridgePorts{bridged: {In: 3, Out: 4}},
		NAT: map[flow.Key]flow.NAT{translated: {DNAT: true, Tuple: flow.Key{Proto: 17, Src: a, Dst: netip.MustParseAddr("198.18.3.2"),
			Sport: 7, Dport: 8080, Netns: 5}}},
		Drops: []flow.Drop{
			{Flow: in, Stage: stage.IPLocalIn, HasStage: true, Ifindex: 3, Location: 0xffffffff81000010, Packets: 4},
			{Flow: in, Stage: stage.IPLocalIn, HasStage: true, Location: 0xffffffff81002004, Packets: 2},
			{Flow: in, Stage: stage.SockRcv, HasStage: true, Reason: 9, Location: 0xffffffff81004057, Packets: 1},
			{Flow: v6, Location: 0xffffffff81000020, Packets: 1},
			{Flow: flow.Key{Proto: 132, Src: b, Dst: a, Sport: 1, Dport: 2, Netns: 2}, Location: 0x10, Packets: 1},
			{Kind: flow.DropNotIP, Location: 0xffffffff81002000, Packets: 3},
			{Kind: flow.DropMalformedIP, Reason: 7, Location: 0x20, Packets: 1},
		},
	}
	snap.Totals[stage.IPRcv] = flow.StageTotals{Packets: 14, Bytes: 1400, Filtered: 1, NotIP: 3, Malformed: 1}
	snap.Overflow = flow.Overflow{FlowsCreated: 9, FlowsEvicted: 4, EventsLost: 1}
	hooks := append(allHooks(stage.TxDone), hookplan.Hook{Stage: stage.Drops, Name: `tp_btf/kfree_skb "\x7f"`})
	reasons := dropreason.FromEnum(&btf.Enum{Name: "skb_drop_reason", Values: []btf.EnumValue{
		{Name: "SKB_DROP_REASON_QUEUE_PURGE", Value: 9}}})
	links := fakeLinks{2: {"br\"<0>", 0}, 3: {"port-a", 2}}
	r := Build(snap, hooks, Namer{Symbols: syms, Reasons: reasons, Links: links})
	r.DurationSeconds, r.NetnsHooked = 1.5, 2
	return r, hooks
}

// encodingJSON is r as encoding/json alone writes it, which is how
// WriteJSON wrote it before it wrote the flows itself: Stages and Bytes
// filled for every hooked stage, and no Flow.MarshalJSON.
func encodingJSON(t *testing.T, r *Report, hooks []hookplan.Hook) []byte {
	t.Helper()
	type plainFlow Flow
	var flows []plainFlow
	if r.Flows != nil {
		flows = make([]plainFlow, len(r.Flows))
	}
	for i := range r.Flows {
		f := plainFlow(r.Flows[i])
		f.Stages, f.Bytes = map[string]uint64{}, map[string]uint64{}
		for _, h := range hooks {
			if h.Stage < stage.Count {
				f.Stages[h.Stage.String()] = f.counts.Packets[h.Stage]
				f.Bytes[h.Stage.String()] = f.counts.Bytes[h.Stage]
			}
		}
		flows[i] = f
	}
	out, err := json.Marshal(struct {
		*Report
		Flows []plainFlow `json:"flows"`
	}{r, flows})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func decodeJSON(t *testing.T, doc []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		t.Fatalf("%v in\n%s", err, doc)
	}
	return v
}

// writeLikeEncodingJSON writes r with WriteJSON, and checks that both it
// and json.Marshal, which write flows without encoding/json's help, write
// what decodes to what encoding/json wrote.
func writeLikeEncodingJSON(t *testing.T, r *Report, hooks []hookplan.Hook) []byte {
	t.Helper()
	want := decodeJSON(t, encodingJSON(t, r, hooks))
	var written bytes.Buffer
	if err := WriteJSON(&written, r); err != nil {
		t.Fatal(err)
	}
	if got := decodeJSON(t, written.Bytes()); !reflect.DeepEqual(got, want) {
		t.Errorf("WriteJSON:\n%s\nencoding/json:\n%s", written.Bytes(), encodingJSON(t, r, hooks))
	}
	marshalled, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if got := decodeJSON(t, marshalled); !reflect.DeepEqual(got, want) {
		t.Errorf("json.Marshal:\n%s\nencoding/json:\n%s", marshalled, encodingJSON(t, r, hooks))
	}
	return written.Bytes()
}

func TestJSONMatchesEncodingJSON(t *testing.T) {
	writeLikeEncodingJSON(t, &Report{}, nil)
	r, hooks := awkwardReport(t)
	written := writeLikeEncodingJSON(t, r, hooks)
	for _, must := range []string{`"kernel_reason":"none"`, `"netfilter":"LOCAL_IN;`, `"ifindex":3`, `"to":""`,
		`"kind":"not_ip"`, `"benign":[{"reason":"QUEUE_PURGE","stage":"sock.rcv"`, `"benign":[]`, `"src":"fe80::1%e\"\u003c1\u003e\u0001é\u2028"`, `"location":"odd\"sym\u003c\u0026\u003e\\é\u0001+0x4"`, `"lost":{`,
		`"bridge":{"name":"br\"\u003c0\u003e","in":"port-a","out":"if4"}`,
		`"nat":{"kind":"dnat","src":"` + a.String() + `","sport":7,"dst":"198.18.3.2","dport":8080}`} {
		if !bytes.Contains(written, []byte(must)) {
			t.Errorf("the report lacks %s: the test no longer covers it", must)
		}
	}
	if n := bytes.Count(written, []byte("\n")); n != 1 || !bytes.HasSuffix(written, []byte("}\n")) {
		t.Errorf("want one line ending in a newline, got %d newlines", n)
	}

	// A saved report written again is the same document, byte for byte.
	back, err := ReadJSON(bytes.NewReader(written))
	if err != nil {
		t.Fatal(err)
	}
	var again bytes.Buffer
	if err := WriteJSON(&again, back); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Bytes(), written) {
		t.Errorf("read and written again:\n%s\nfirst written:\n%s", again.Bytes(), written)
	}
}

// A flow from a saved report encodes as it was saved, whether ReadJSON
// read it (and restored its counts) or json.Unmarshal did (and it has
// only its exported fields), null lists included.
func TestMarshalReadFlow(t *testing.T) {
	saved := []byte(`{"conn":1,"proto":"udp","src":"198.18.0.1","sport":1,"dst":"198.18.0.2","dport":2,"netns":3,` +
		`"path":"local-in","stages":{"ip.rcv":5,"l4.rcv":0},"bytes":{"ip.rcv":500,"l4.rcv":0},"drops":null,"benign":null,"losses":[]}`)
	var decoded Flow
	if err := json.Unmarshal(saved, &decoded); err != nil {
		t.Fatal(err)
	}
	r, err := ReadJSON(bytes.NewReader([]byte(`{"flows":[` + string(saved) + `],"hooks":[{"stage":"ip.rcv","hook":"h"}]}`)))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []Flow{decoded, r.Flows[0]} {
		out, err := json.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(decodeJSON(t, out), decodeJSON(t, saved)) {
			t.Errorf("got %s, want %s", out, saved)
		}
	}
}

func TestAppendString(t *testing.T) {
	for _, s := range []string{"", "ip.local_in", "fe80::1%eth0", `q"`, `b\`, "c\x01", "<&>", "é", "\u2028", "\u2029", "\x7f", "\xff", "a\xc3", "ok — ünïcode"} {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendString([]byte("x"), s); string(got) != "x"+string(want) {
			t.Errorf("appendString(%q) = %s, want x%s", s, got, want)
		}
	}
}
