package report

import (
	"fmt"
	"io"
	"net/netip"
	"testing"

	"github.com/dropspot/dropspot/internal/flow"
	"github.com/dropspot/dropspot/internal/stage"
)

// benchSizes are the flow-table sizes the scale benchmarks run at: the
// default table and the largest one dropspot is meant to report.
var benchSizes = []int{100_000, 1_000_000}

// syntheticSnapshot is a busy host's table in one namespace: UDP and TCP
// flow directions from a few client addresses (50000 source ports each) to
// two services, on the local-in path (6 of 12 stages counted). Every tenth
// direction is the reply of the one before (local-out path), so connections
// pair up; one in 32 lost packets to a drop at ip.local_in.
func syntheticSnapshot(n int) *flow.Snapshot {
	const netns = 4026531840
	server := netip.MustParseAddr("10.255.0.1")
	snap := &flow.Snapshot{Flows: make(map[flow.Key]*flow.Counts, n)}
	var prev flow.Key
	for i := range n {
		key := flow.Key{Proto: 6, Dst: server, Dport: 443, Netns: netns,
			Src:   netip.AddrFrom4([4]byte{10, 0, byte(i / 50_000 >> 8), byte(i / 50_000)}),
			Sport: uint16(1024 + i%50_000)}
		if i%2 == 1 {
			key.Proto, key.Dport = 17, 5300
		}
		path, pkts := routeStages[localIn], uint64(1+i%1000)
		if i%10 == 1 {
			key, path = prev.Reverse(), routeStages[localOut]
		}
		c := &flow.Counts{}
		for _, s := range path {
			c.Packets[s], c.Bytes[s] = pkts, pkts*1200
		}
		if i%32 == 0 {
			lost := pkts/2 + 1
			c.Packets[stage.L4Rcv] -= lost
			c.Packets[stage.SockRcv] -= lost
			snap.Drops = append(snap.Drops, flow.Drop{Flow: key, Kind: flow.DropOfFlow, Reason: 2,
				Stage: stage.IPLocalIn, HasStage: true, Ifindex: 2, Location: 0xffffffff81a0b0c0, Packets: lost})
		}
		snap.Flows[key] = c
		prev = key
	}
	for s := range stage.Count {
		snap.Totals[s] = flow.StageTotals{Packets: uint64(n) * 500, Bytes: uint64(n) * 600_000}
	}
	snap.Overflow.FlowsCreated = uint64(n)
	return snap
}

// benchReports caches one snapshot and report per size: making a 10^6-flow
// snapshot takes longer than what is measured.
var benchReports = map[int]struct {
	snap *flow.Snapshot
	rep  *Report
}{}

func benchReport(b *testing.B, n int) (*flow.Snapshot, *Report) {
	b.Helper()
	c, ok := benchReports[n]
	if !ok {
		c.snap = syntheticSnapshot(n)
		c.rep = Build(c.snap, allHooks(), Namer{})
		benchReports[n] = c
	}
	return c.snap, c.rep
}

func benchEach(b *testing.B, run func(b *testing.B, n int)) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("flows=%d", n), func(b *testing.B) { run(b, n) })
	}
}

func BenchmarkBuild(b *testing.B) {
	benchEach(b, func(b *testing.B, n int) {
		snap, _ := benchReport(b, n)
		hooks := allHooks()
		b.ReportAllocs()
		for b.Loop() {
			Build(snap, hooks, Namer{})
		}
	})
}

// countingDiscard counts what it is given, so the benchmarks report the
// document's size per flow and the throughput.
type countingDiscard struct{ n int64 }

func (c *countingDiscard) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}

func benchWrite(b *testing.B, write func(io.Writer, *Report) error) {
	benchEach(b, func(b *testing.B, n int) {
		_, r := benchReport(b, n)
		var size countingDiscard
		if err := write(&size, r); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(size.n)
		b.ReportAllocs()
		for b.Loop() {
			if err := write(io.Discard, r); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(size.n)/float64(len(r.Flows)), "B/flow")
	})
}

func BenchmarkWriteJSON(b *testing.B) { benchWrite(b, WriteJSON) }

func BenchmarkWriteText(b *testing.B) {
	benchWrite(b, func(w io.Writer, r *Report) error { return WriteText(w, r, TextOptions{}) })
}
