package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/dropspot/dropspot/internal/report"
)

// The flood flow as the harness sends it: addrA:unitSport -> addrB:udpPort.
const (
	unitSport = 40000
	unitSent  = 1000
)

// unitNetns are the benchmark's two namespaces (A sends, B receives);
// records in any other namespace belong to someone else.
var unitNetns = []uint32{1, 2}

// unitFlood is a record of the flood flow (in namespace netns).
func unitFlood(netns uint32, stages map[string]uint64, drops ...report.Drop) report.Flow {
	dport := unitPort(udpPort)
	return report.Flow{Proto: "udp", Src: addrA, Sport: unitSport, Dst: addrB, Dport: dport, Netns: netns, Stages: stages, Drops: drops}
}

// unitStages counts n at every stage of the path, then applies overrides;
// an override of -1 removes the stage (not hooked on that kernel).
func unitStages(n uint64, override map[string]int64) map[string]uint64 {
	m := map[string]uint64{}
	for _, st := range pathStages {
		m[st] = n
	}
	for st, v := range override {
		if v < 0 {
			delete(m, st)
		} else {
			m[st] = uint64(v)
		}
	}
	return m
}

func unitWriteReport(t *testing.T, flows []report.Flow, overflow map[string]any) string {
	t.Helper()
	if flows == nil {
		flows = []report.Flow{}
	}
	hooks := []report.Hook{{Stage: "rx.driver", Hook: "tp_btf/netif_rx"}} // every report has one
	doc := map[string]any{"flows": flows, "hooks": hooks, "overflow": overflow, "flow_table_entries": len(flows)}
	data, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "report.json")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// unitPort is one of the harness's port constants as a report holds it.
func unitPort(s string) uint16 {
	n, _ := strconv.Atoi(s)
	return uint16(n)
}

func unitUDPRun() udpRunResult {
	return udpRunResult{
		Send: sendResult{Sent: unitSent, Seconds: 2, Sport: unitSport},
		Recv: recvResult{Received: 990, Seconds: 2},
	}
}

const unitAccounted = "accounted (drops/overflow cover every missing count)"

func TestAccuracyVerdicts(t *testing.T) {
	dport := unitPort(udpPort)
	full := unitStages(unitSent, nil)
	// flows in the benchmark's namespace that share some of the flood's
	// fields but are not the flood
	others := []report.Flow{
		{Netns: 1, Proto: "udp", Src: addrA, Sport: unitSport + 1, Dst: addrB, Dport: dport, Stages: full},      // other source port
		{Netns: 1, Proto: "udp", Src: addrA, Sport: unitSport, Dst: addrB, Dport: dport + 1, Stages: full},      // other destination port
		{Netns: 1, Proto: "udp", Src: addrB, Sport: dport, Dst: addrA, Dport: unitSport, Stages: full},          // the reverse direction
		{Netns: 1, Proto: "tcp", Src: addrA, Sport: unitSport, Dst: addrB, Dport: dport, Stages: full},          // TCP
		{Netns: 1, Proto: "udp", Src: "198.18.200.9", Sport: unitSport, Dst: addrB, Dport: dport, Stages: full}, // other source address
		{Netns: 1, Proto: "udp", Src: addrA, Sport: unitSport, Dst: "198.18.200.9", Dport: dport, Stages: full}, // other destination address
		{Netns: 1, Proto: "udp", Src: addrA, Sport: unitSport + 1, Dst: addrB, Dport: dport, Stages: unitStages(7, nil), // loses, with drops
			Drops: []report.Drop{{Reason: "NO_SOCKET", Stage: "l4.rcv", Count: 500}}},
	}

	for _, tc := range []struct {
		name      string
		flows     []report.Flow
		overflow  map[string]any
		verdict   string
		missing   map[string]int64 // checked when not nil
		flowDrops uint64
		loss      uint64
	}{
		{
			name:    "every stage counted every datagram",
			flows:   []report.Flow{unitFlood(1, full)},
			verdict: "exact",
			missing: unitMissing(nil),
		},
		{
			name: "socket drops cover the missing sock.rcv counts",
			flows: []report.Flow{unitFlood(1, unitStages(unitSent, map[string]int64{"sock.rcv": 990}),
				report.Drop{Reason: "SOCKET_RCVBUFF", Stage: "l4.rcv", Location: "12345", Count: 10})},
			verdict:   unitAccounted,
			missing:   unitMissing(map[string]int64{"sock.rcv": 10}),
			flowDrops: 10,
		},
		{
			name:     "overflow loss counters cover the missing counts",
			flows:    []report.Flow{unitFlood(1, unitStages(unitSent, map[string]int64{"rx.core": 994, "ip.rcv": 994, "ip.local_in": 994, "l4.rcv": 994, "sock.rcv": 994}))},
			overflow: map[string]any{"evicted_flows": 2, "flow_create_failed": 1, "drops_unrecorded": 1, "tx_done_unmatched": 1, "unparsed": 1},
			verdict:  unitAccounted,
			loss:     6,
		},
		{
			name: "drops and overflow together cover exactly the missing count",
			flows: []report.Flow{unitFlood(1, unitStages(unitSent, map[string]int64{"sock.rcv": 990}),
				report.Drop{Reason: "SOCKET_RCVBUFF", Stage: "l4.rcv", Count: 4})},
			overflow:  map[string]any{"drops_unrecorded": 6},
			verdict:   unitAccounted,
			flowDrops: 4,
			loss:      6,
		},
		{
			name: "drops and overflow one short of the missing count",
			flows: []report.Flow{unitFlood(1, unitStages(unitSent, map[string]int64{"sock.rcv": 990}),
				report.Drop{Reason: "SOCKET_RCVBUFF", Stage: "l4.rcv", Count: 4})},
			overflow:  map[string]any{"drops_unrecorded": 5},
			verdict:   "UNACCOUNTED",
			flowDrops: 4,
			loss:      5,
		},
		{
			name:     "counters that are not losses cover nothing",
			flows:    []report.Flow{unitFlood(1, unitStages(unitSent, map[string]int64{"sock.rcv": 990}))},
			overflow: map[string]any{"flows_created": 1000000, "events_lost": 50, "unparsed_drops": []any{map[string]any{"kind": "not_ip", "count": 99}}},
			verdict:  "UNACCOUNTED",
		},
		{
			name: "a stage counting more than was sent is never accounted",
			flows: []report.Flow{unitFlood(1, unitStages(unitSent, map[string]int64{"rx.core": unitSent + 1}),
				report.Drop{Reason: "NO_SOCKET", Stage: "l4.rcv", Count: 100})},
			overflow:  map[string]any{"evicted_flows": 100},
			verdict:   "UNACCOUNTED",
			missing:   unitMissing(map[string]int64{"rx.core": -1}),
			flowDrops: 100,
			loss:      100,
		},
		{
			name:     "no record of the flood flow",
			flows:    others,
			overflow: map[string]any{"evicted_flows": 3},
			verdict:  "FLOW NOT FOUND",
			missing:  map[string]int64{},
			loss:     3, // overflow is read even when the flow is missing
		},
		{
			name:    "no flows at all",
			verdict: "FLOW NOT FOUND",
		},
		{
			name:    "other flows' counts and drops are ignored",
			flows:   append(append([]report.Flow{}, others...), unitFlood(1, full)),
			verdict: "exact",
			missing: unitMissing(nil),
		},
		{
			name: "the same flow in a namespace of someone else's is ignored",
			// other traffic on the host may reuse the addresses and ports:
			// half the counts there would make the flood flow look lossy
			flows:   []report.Flow{unitFlood(1, full), unitFlood(3, unitStages(unitSent/2, nil))},
			verdict: "exact",
			missing: unitMissing(nil),
		},
		{
			name:    "only a namespace of someone else's has the flow",
			flows:   []report.Flow{unitFlood(3, full)},
			verdict: "FLOW NOT FOUND",
			missing: map[string]int64{},
		},
		{
			name:    "a record without any path stage proves nothing",
			flows:   []report.Flow{unitFlood(1, map[string]uint64{"ip.forward": 0})},
			verdict: "NO PATH STAGE IN REPORT",
			missing: map[string]int64{},
		},
		{
			name:    "stages the kernel could not hook are not required",
			flows:   []report.Flow{unitFlood(1, unitStages(unitSent, map[string]int64{"tx.done": -1, "rx.driver": -1}))},
			verdict: "exact",
			missing: unitMissing(nil, "tx.done", "rx.driver"),
		},
		{
			name: "a missing count at an absent stage cannot be blamed",
			// sock.rcv lost 10, but it is not in the report: only the
			// stages present are compared
			flows:   []report.Flow{unitFlood(1, unitStages(unitSent, map[string]int64{"sock.rcv": -1}))},
			verdict: "exact",
		},
		{
			name: "the flow's records in both namespaces add up",
			// namespace A sees the transmit stages, namespace B the
			// receive stages; every hooked stage is present in both, with
			// zeros (the report's contract)
			flows: []report.Flow{
				unitFlood(1, unitStages(0, map[string]int64{"ip.local_out": unitSent, "ip.postrouting": unitSent, "tx.queue": unitSent, "tx.xmit": unitSent, "tx.done": unitSent}),
					report.Drop{Reason: "QDISC_DROP", Stage: "tx.queue", Count: 3}),
				unitFlood(2, unitStages(unitSent, map[string]int64{"ip.local_out": 0, "ip.postrouting": 0, "tx.queue": 0, "tx.xmit": 0, "tx.done": 0, "sock.rcv": 993}),
					report.Drop{Reason: "SOCKET_RCVBUFF", Stage: "l4.rcv", Count: 7}),
			},
			verdict:   unitAccounted,
			missing:   unitMissing(map[string]int64{"sock.rcv": 7}),
			flowDrops: 10,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := unitWriteReport(t, tc.flows, tc.overflow)
			a, err := accuracy(path, unitUDPRun(), 3, unitNetns)
			if err != nil {
				t.Fatal(err)
			}
			if a.Verdict != tc.verdict {
				t.Errorf("verdict = %q, want %q (stages %v, missing %v, drops %d, overflow loss %d)",
					a.Verdict, tc.verdict, a.Stages, a.Missing, a.FlowDrops, a.OverflowLoss)
			}
			if tc.missing != nil && !reflect.DeepEqual(a.Missing, tc.missing) {
				t.Errorf("missing = %v, want %v", a.Missing, tc.missing)
			}
			if a.FlowDrops != tc.flowDrops {
				t.Errorf("flow drops = %d, want %d", a.FlowDrops, tc.flowDrops)
			}
			if a.OverflowLoss != tc.loss {
				t.Errorf("overflow loss = %d, want %d (overflow %v)", a.OverflowLoss, tc.loss, a.Overflow)
			}
			if a.Rep != 3 || a.Sent != unitSent || a.Received != 990 {
				t.Errorf("rep/sent/received = %d/%d/%d, want 3/%d/990", a.Rep, a.Sent, a.Received, unitSent)
			}
		})
	}
}

// unitMissing is the Missing map of a flood flow whose stages all counted
// unitSent except those in missing, and the absent stages left out.
func unitMissing(missing map[string]int64, absent ...string) map[string]int64 {
	m := map[string]int64{}
	for _, st := range pathStages {
		m[st] = 0
	}
	for st, v := range missing {
		m[st] = v
	}
	for _, st := range absent {
		delete(m, st)
	}
	return m
}

func TestAccuracySumsRecordsAndDropReasons(t *testing.T) {
	path := unitWriteReport(t, []report.Flow{
		unitFlood(1, map[string]uint64{"ip.local_out": 600, "sock.rcv": 590, "ip.forward": 5},
			report.Drop{Reason: "SOCKET_RCVBUFF", Stage: "l4.rcv", Count: 6},
			report.Drop{Reason: "NO_SOCKET", Stage: "l4.rcv", Count: 1}),
		unitFlood(2, map[string]uint64{"ip.local_out": 400, "sock.rcv": 400},
			report.Drop{Reason: "SOCKET_RCVBUFF", Stage: "l4.rcv", Count: 3}),
	}, map[string]any{"evicted_flows": 0, "flows_created": 12})
	a, err := accuracy(path, unitUDPRun(), 0, unitNetns)
	if err != nil {
		t.Fatal(err)
	}
	wantStages := map[string]uint64{"ip.local_out": 1000, "sock.rcv": 990, "ip.forward": 5}
	if !reflect.DeepEqual(a.Stages, wantStages) {
		t.Errorf("stages = %v, want %v", a.Stages, wantStages)
	}
	// ip.forward is not on the A -> B path: not compared
	if want := map[string]int64{"ip.local_out": 0, "sock.rcv": 10}; !reflect.DeepEqual(a.Missing, want) {
		t.Errorf("missing = %v, want %v", a.Missing, want)
	}
	if want := map[string]uint64{"SOCKET_RCVBUFF@l4.rcv": 9, "NO_SOCKET@l4.rcv": 1}; !reflect.DeepEqual(a.DropReasons, want) {
		t.Errorf("drop reasons = %v, want %v", a.DropReasons, want)
	}
	if a.FlowDrops != 10 || a.Verdict != unitAccounted {
		t.Errorf("flow drops %d, verdict %q; want 10, %q", a.FlowDrops, a.Verdict, unitAccounted)
	}
	// every numeric counter of the report, by its JSON name
	if n, ok := a.Overflow["flows_created"]; !ok || n != 12 || len(a.Overflow) != reflect.TypeFor[report.Overflow]().NumField()-1 {
		t.Errorf("overflow = %v, want flows_created 12 and every counter but unparsed_drops", a.Overflow)
	}
}

func TestAccuracyBadInput(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "truncated.json")
	// a report cut short (dropspot killed mid-write)
	if err := os.WriteFile(bad, []byte(`{"flows":[{"proto":"udp","src":"198.18`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := accuracy(bad, unitUDPRun(), 0, unitNetns); err == nil || !strings.Contains(err.Error(), "not a dropspot report") {
		t.Errorf("truncated report: err = %v, want \"not a dropspot report\"", err)
	}
	wrongType := filepath.Join(dir, "wrongtype.json")
	if err := os.WriteFile(wrongType, []byte(`{"flows":[{"proto":"udp","sport":"not a number"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := accuracy(wrongType, unitUDPRun(), 0, unitNetns); err == nil {
		t.Error("report with a string port: no error")
	}
	if _, err := accuracy(filepath.Join(dir, "absent.json"), unitUDPRun(), 0, unitNetns); err == nil {
		t.Error("absent report: no error")
	}
}
