package tracer

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/dropspot/dropspot/internal/filter"
	"github.com/dropspot/dropspot/internal/flow"
	"github.com/dropspot/dropspot/internal/netns"
	"github.com/dropspot/dropspot/internal/stage"
	"github.com/dropspot/dropspot/internal/testnet"
)

// Stages each path passes, one namespace at a time.
var (
	sent     = []stage.Stage{stage.IPLocalOut, stage.IPPostrouting, stage.TxQueue, stage.TxXmit, stage.TxDone}
	received = []stage.Stage{stage.RxDriver, stage.RxCore, stage.IPRcv, stage.IPLocalIn, stage.L4Rcv}
)

func start(t *testing.T, cfg Config) *Tracer {
	t.Helper()
	testnet.RequirePrivileged(t)
	tr, err := Start(cfg)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(tr.Close)
	for _, h := range tr.Plan.Hooks {
		if !tr.Plan.Chosen.Has(h.Stage) {
			t.Fatalf("stage %v hooked by %s, not chosen (%v)", h.Stage, h.Name, tr.Plan.Chosen)
		}
	}
	for _, s := range append(stage.All(), stage.Drops, stage.TCPRetransmit) {
		if tr.Plan.Hooked(s) || !tr.Plan.Chosen.Has(s) {
			continue
		}
		for _, r := range tr.Plan.Rejected {
			if r.Stage == s {
				t.Logf("%v: %s: %s", s, r.Candidate, r.Reason)
			}
		}
		// Before netfilter BPF links (6.4) ip.local_out has no exact
		// hook; every other stage must have one on every kernel.
		if s != stage.IPLocalOut || kernelAtLeast(t, 6, 4) {
			t.Fatalf("stage %v has no hook on this kernel", s)
		}
	}
	return tr
}

// kernelAtLeast compares the running kernel's version.
func kernelAtLeast(t *testing.T, major, minor int) bool {
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		t.Fatal(err)
	}
	var maj, min int
	fmt.Sscanf(unix.ByteSliceToString(uts.Release[:]), "%d.%d", &maj, &min)
	return maj > major || maj == major && min >= minor
}

func snapshot(t *testing.T, tr *Tracer) *flow.Snapshot {
	t.Helper()
	s, err := tr.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func key(f testnet.Flow, netns uint32, reverse bool) flow.Key {
	protos := map[string]uint8{"tcp": 6, "udp": 17, "icmp": 1, "icmp6": 58}
	k := flow.Key{Proto: protos[f.Proto], Src: f.Src, Dst: f.Dst, Sport: f.Sport, Dport: f.Dport, Netns: netns}
	if f.Proto == "icmp" || f.Proto == "icmp6" {
		k.Echo = flow.EchoRequest // testnet's ICMP flows are pings: Src asks
	}
	if reverse {
		return k.Reverse()
	}
	return k
}

// expect asserts the exact count of every stage for one flow direction:
// n at the listed stages, 0 everywhere else.
func expect(t *testing.T, tr *Tracer, snap *flow.Snapshot, k flow.Key, n uint64, stages ...[]stage.Stage) {
	t.Helper()
	want := map[stage.Stage]uint64{}
	for _, list := range stages {
		for _, s := range list {
			want[s] = n
		}
	}
	c, ok := snap.Flows[k]
	if !ok {
		if n == 0 {
			return
		}
		t.Errorf("%v: no flow entry, want %d packets at %v", k, n, stages)
		return
	}
	for _, s := range stage.All() {
		if !tr.Plan.Hooked(s) {
			continue // absent on this kernel, and said so by start
		}
		if c.Packets[s] != want[s] {
			t.Errorf("%v: %v = %d, want %d", k, s, c.Packets[s], want[s])
		}
	}
}

func TestUDPExactCounts(t *testing.T) {
	testnet.RequirePrivileged(t)
	p := testnet.NewPair(t)
	tr := start(t, Config{})
	for _, v6 := range []bool{false, true} {
		const n = 37
		f, err := testnet.UDP(p, testnet.A, n, 200, v6)
		if err != nil {
			t.Fatal(err)
		}
		snap := snapshot(t, tr)
		sock := []stage.Stage{stage.SockRcv}
		expect(t, tr, snap, key(f, p.InodeA, false), n, sent)
		expect(t, tr, snap, key(f, p.InodeB, false), n, received, sock)
		expect(t, tr, snap, key(f, p.InodeA, true), 0)
		expect(t, tr, snap, key(f, p.InodeB, true), 0)
		// IP bytes: payload + UDP header + IP header, at every stage.
		hdr := uint64(28)
		if v6 {
			hdr = 48
		}
		if got := snap.Flows[key(f, p.InodeB, false)].Bytes[stage.L4Rcv]; got != n*(200+hdr) {
			t.Errorf("v6=%v: l4.rcv bytes = %d, want %d", v6, got, n*(200+hdr))
		}
	}
}

func TestPingExactCounts(t *testing.T) {
	testnet.RequirePrivileged(t)
	p := testnet.NewPair(t)
	tr := start(t, Config{})
	for _, v6 := range []bool{false, true} {
		const n = 9
		f, err := testnet.Ping(p, testnet.A, n, v6)
		if err != nil {
			t.Fatal(err)
		}
		snap := snapshot(t, tr)
		// Requests: A sends, B's kernel answers (no socket: sock.rcv 0).
		expect(t, tr, snap, key(f, p.InodeA, false), n, sent)
		expect(t, tr, snap, key(f, p.InodeB, false), n, received)
		// Replies: B sends, A's ping socket receives.
		expect(t, tr, snap, key(f, p.InodeB, true), n, sent)
		expect(t, tr, snap, key(f, p.InodeA, true), n, received, []stage.Stage{stage.SockRcv})
	}
}

// TCP segment counts are not known in advance (GSO, delayed ACKs), so the
// ground truth is the sender's SNMP counters: OutSegs (+ RetransSegs)
// counts segments as they go on the wire, as dropspot does. The veth is
// lossless, so the receiver's stages must show the same number. (InSegs
// counts GSO super-packets as one, so it is only a lower bound there.)
func TestTCPMatchesNstat(t *testing.T) {
	testnet.RequirePrivileged(t)
	p := testnet.NewPair(t)
	tr := start(t, Config{})
	for _, v6 := range []bool{false, true} {
		nstat := func(side testnet.Side) map[string]uint64 {
			n, err := testnet.Nstat(p, side)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		beforeA, beforeB := nstat(testnet.A), nstat(testnet.B)
		f, err := testnet.TCP(p, testnet.A, 300000, v6)
		if err != nil {
			t.Fatal(err)
		}
		afterA, afterB := nstat(testnet.A), nstat(testnet.B)
		wire := func(before, after map[string]uint64) uint64 {
			return after["Tcp.OutSegs"] + after["Tcp.RetransSegs"] - before["Tcp.OutSegs"] - before["Tcp.RetransSegs"]
		}
		outA, outB := wire(beforeA, afterA), wire(beforeB, afterB)
		inA, inB := afterA["Tcp.InSegs"]-beforeA["Tcp.InSegs"], afterB["Tcp.InSegs"]-beforeB["Tcp.InSegs"]
		if outA < 200 || inB > outA || inA > outB {
			t.Fatalf("v6=%v: unexpected ground truth: A out %d, B in %d, B out %d, A in %d", v6, outA, inB, outB, inA)
		}
		snap := snapshot(t, tr)
		sock := []stage.Stage{stage.SockRcv}
		expect(t, tr, snap, key(f, p.InodeA, false), outA, sent)
		expect(t, tr, snap, key(f, p.InodeB, false), outA, received, sock)
		expect(t, tr, snap, key(f, p.InodeB, true), outB, sent)
		expect(t, tr, snap, key(f, p.InodeA, true), outB, received, sock)
		if c := snap.Flows[key(f, p.InodeB, false)]; c != nil && c.Bytes[stage.RxCore] < 300000 {
			t.Errorf("v6=%v: rx.core bytes %d < payload sent", v6, c.Bytes[stage.RxCore])
		}
	}
}

// The filter runs in the kernel before any map write: flows it rejects
// leave no entry at all.
func TestFilterCostsNoEntries(t *testing.T) {
	testnet.RequirePrivileged(t)
	p := testnet.NewPair(t)
	prog, err := filter.Compile("udp and host " + p.B4.String())
	if err != nil {
		t.Fatal(err)
	}
	tr := start(t, Config{Filter: flow.Filter{Program: prog}})
	const n = 11
	in, err := testnet.UDP(p, testnet.A, n, 100, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := testnet.UDP(p, testnet.A, n, 100, true); err != nil {
		t.Fatal(err)
	}
	if _, err := testnet.Ping(p, testnet.A, 3, false); err != nil {
		t.Fatal(err)
	}
	snap := snapshot(t, tr)
	expect(t, tr, snap, key(in, p.InodeB, false), n, received, []stage.Stage{stage.SockRcv})
	pairAddrs := map[netip.Addr]bool{p.A4: true, p.B4: true, p.A6: true, p.B6: true}
	for k := range snap.Flows {
		if k.Proto != 17 || (k.Src != p.B4 && k.Dst != p.B4) {
			if pairAddrs[k.Src] || pairAddrs[k.Dst] {
				t.Errorf("filtered-out flow has an entry: %v", k)
			}
			if k.Proto != 17 {
				t.Errorf("flow of another protocol passed the filter: %v", k)
			}
		}
	}
	// The IPv6 datagrams and both ways of the pings, at least.
	if snap.Totals[stage.TxXmit].Filtered < n+6 {
		t.Errorf("tx.xmit filtered = %d, want at least %d", snap.Totals[stage.TxXmit].Filtered, n+6)
	}
}

// Namespaces made after start are hooked by the watcher and counted too.
func TestNetnsCreatedLater(t *testing.T) {
	tr := start(t, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go tr.Watch(ctx)
	p := testnet.NewPair(t)
	deadline := time.Now().Add(5 * time.Second)
	for !tr.Plan.NetnsHooked(netns.Named(p.NameA)) || !tr.Plan.NetnsHooked(netns.Named(p.NameB)) {
		if time.Now().After(deadline) {
			t.Fatal("new namespaces not hooked within 5s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	const n = 13
	f, err := testnet.UDP(p, testnet.A, n, 64, false)
	if err != nil {
		t.Fatal(err)
	}
	snap := snapshot(t, tr)
	expect(t, tr, snap, key(f, p.InodeA, false), n, sent)
	expect(t, tr, snap, key(f, p.InodeB, false), n, received, []stage.Stage{stage.SockRcv})
}

// -i: only packets on the given device of the given namespace count.
func TestInterfaceFilter(t *testing.T) {
	testnet.RequirePrivileged(t)
	p := testnet.NewPair(t)
	tr := start(t, Config{Filter: flow.Filter{Netns: p.InodeB, Ifindex: uint32(p.IfindexB)}})
	const n = 8
	f, err := testnet.UDP(p, testnet.A, n, 50, true)
	if err != nil {
		t.Fatal(err)
	}
	snap := snapshot(t, tr)
	expect(t, tr, snap, key(f, p.InodeB, false), n, received, []stage.Stage{stage.SockRcv})
	for k := range snap.Flows {
		if k.Netns != p.InodeB {
			t.Errorf("flow of another namespace counted: %v", k)
		}
	}
}
