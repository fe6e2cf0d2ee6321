package tracer

import (
	"errors"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/dropspot/dropspot/internal/dropreason"
	"github.com/dropspot/dropspot/internal/faults"
	"github.com/dropspot/dropspot/internal/flow"
	"github.com/dropspot/dropspot/internal/hookplan"
	"github.com/dropspot/dropspot/internal/kallsyms"
	"github.com/dropspot/dropspot/internal/report"
	"github.com/dropspot/dropspot/internal/stage"
	"github.com/dropspot/dropspot/internal/testnet"
)

// TestDrops builds each fault of internal/faults in namespaces of its own,
// then starts the tracer (once: it is the slow part) and runs one subtest
// per fault. Each sends a known number of packets into its fault and
// checks, for the one flow direction in the one namespace that drops
// them, dropspot's drop count, reason and stage against the fault's own
// ground truth: its BPF counter, the qdisc's statistics or the
// namespace's SNMP counters. A healthy connection must show no drops.
func TestDrops(t *testing.T) {
	testnet.RequirePrivileged(t)
	cases := []struct {
		name string
		// setup builds namespaces and fault before the tracer starts and
		// returns the subtest to run once it has.
		setup func(t *testing.T, nw *nets) func(t *testing.T, tr *Tracer)
	}{
		{"firewall", setupFirewall},
		{"tc-ingress", setupTCIngress},
		{"qdisc-overflow", setupQdiscOverflow},
		{"socket-rcvbuf", setupSocketRcvbuf},
		{"udp-closed-port", setupUDPClosedPort},
		{"tcp-closed-port", setupTCPClosedPort},
		{"bad-checksums", setupBadChecksums},
		{"rp-filter", setupRPFilter},
		{"ttl-expired", setupTTLExpired},
		{"healthy-tcp", setupHealthyTCP},
	}
	var nw nets
	runs := make([]func(*testing.T, *Tracer), len(cases))
	for i, c := range cases {
		runs[i] = c.setup(t, &nw)
	}
	tr := start(t, Config{})
	nw.waitReady(t)
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) { runs[i](t, tr) })
	}
}

// testPort is the destination port the faults aim at. Nothing listens on
// it: the namespaces are private to each test.
const testPort = 4242

var (
	namerOnce sync.Once
	namerVal  report.Namer
	namerErr  error
)

// namer names drops as the reports do: reasons from the kernel's BTF,
// locations from kallsyms (which also classifies NOT_SPECIFIED drops).
func namer(t *testing.T) report.Namer {
	t.Helper()
	namerOnce.Do(func() {
		var reasons *dropreason.Names
		var syms *kallsyms.Table
		if reasons, namerErr = dropreason.Load(); namerErr != nil {
			return
		}
		if syms, namerErr = kallsyms.Load(); namerErr != nil {
			return
		}
		namerVal = report.Namer{Reasons: reasons, Symbols: syms}
	})
	if namerErr != nil {
		t.Fatalf("drop names: %v", namerErr)
	}
	return namerVal
}

// settle bounds the waits for packets still being processed: a veth
// hands each packet to the receiving namespace's backlog, which may run
// on another CPU after the sender (or a reply to it) has moved on.
const settle = time.Second

// A drop's stage is the last stage passed, so it follows the hook the
// plan chose: a function hook on ip_rcv fires before ip_rcv_core checks
// the header, the netfilter PRE_ROUTING hook after it.
func headerCheckStage(tr *Tracer) string {
	if functionHooked(tr, stage.IPRcv) {
		return "ip.rcv"
	}
	return "rx.core"
}

// Likewise ip_forward drops TTL-expired packets after a function hook on
// ip_forward, but before the netfilter FORWARD hook.
func forwardCheckStage(tr *Tracer) string {
	if functionHooked(tr, stage.IPForward) {
		return "ip.forward"
	}
	return "ip.rcv"
}

// kernelHasReasons tells whether the drop hook carries the kernel's reason.
func kernelHasReasons(tr *Tracer) bool {
	for _, h := range tr.Plan.Hooks {
		if h.Stage == stage.Drops {
			return !strings.Contains(h.Name, "no reason")
		}
	}
	return false
}

// reasonIs tells whether a drop's reason is want. Before 5.17 the kernel
// gives no reason: the location names it where it can (nf_hook_slow:
// NETFILTER_DROP), else it is UNKNOWN, which then stands for any.
func reasonIs(tr *Tracer, reason, want string) bool {
	return reason == want || (want != "" && reason == "UNKNOWN" && !kernelHasReasons(tr))
}

func functionHooked(tr *Tracer, s stage.Stage) bool {
	for _, h := range tr.Plan.Hooks {
		if h.Stage == s {
			return h.Kind == hookplan.Fentry || h.Kind == hookplan.Kprobe
		}
	}
	return false
}

// expectDrops asserts that flow direction k lost exactly n packets, every
// one of them for wantReason after wantStage. It waits (bounded) for the last of
// them: the kernel may free a packet after the ground truth has counted
// it, or after the sender has heard back (an ICMP error, a reset).
func expectDrops(t *testing.T, tr *Tracer, k flow.Key, n uint64, wantReason, wantStage string) {
	t.Helper()
	snap := snapshot(t, tr)
	for deadline := time.Now().Add(settle); n > 0 && dropTotal(snap, k) < n && time.Now().Before(deadline); {
		time.Sleep(2 * time.Millisecond)
		snap = snapshot(t, tr)
	}
	nm := namer(t)
	for _, d := range snap.Drops {
		if d.Kind != flow.DropOfFlow || d.Flow != k {
			continue
		}
		named := nm.Name(d)
		t.Logf("%v: %d dropped: %s after %s at %s", k, named.Count, named.Reason, named.Stage, named.Location)
		if !reasonIs(tr, named.Reason, wantReason) || named.Stage != wantStage {
			t.Errorf("%v: %d drops are %s after %s (at %s), want %s after %s",
				k, named.Count, named.Reason, named.Stage, named.Location, wantReason, wantStage)
		}
	}
	if total := dropTotal(snap, k); total != n {
		t.Errorf("%v: %d drops, want %d", k, total, n)
	}
}

func dropTotal(snap *flow.Snapshot, k flow.Key) uint64 {
	var total uint64
	for _, d := range snap.Drops {
		if d.Kind == flow.DropOfFlow && d.Flow == k {
			total += d.Packets
		}
	}
	return total
}

// expectTruth asserts a ground truth before it is used: a fault that did
// not drop what the test sent proves nothing about dropspot.
func expectTruth(t *testing.T, what string, got, want uint64) {
	t.Helper()
	if got != want {
		t.Fatalf("ground truth: %s = %d, want %d", what, got, want)
	}
}

// waitTruth is expectTruth for a ground truth that may still be counting
// packets in flight: it waits (bounded) until get returns want, and fails
// if it ends anywhere else.
func waitTruth(t *testing.T, what string, get func() uint64, want uint64) {
	t.Helper()
	got := get()
	for deadline := time.Now().Add(settle); got < want && time.Now().Before(deadline); got = get() {
		time.Sleep(2 * time.Millisecond)
	}
	expectTruth(t, what, got, want)
}

func dropped(t *testing.T, f interface{ Dropped() (uint64, error) }) uint64 {
	t.Helper()
	n, err := f.Dropped()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// closeFault closes f at cleanup and reports a failure to remove it.
func closeFault(t *testing.T, f interface{ Close() error }) {
	t.Cleanup(func() {
		if err := f.Close(); err != nil {
			t.Errorf("remove fault: %v", err)
		}
	})
}

func nstat(t *testing.T, p *testnet.Pair, side testnet.Side) map[string]uint64 {
	t.Helper()
	n, err := testnet.Nstat(p, side)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// chainNstat is nstat for a node of a Chain.
func chainNstat(t *testing.T, c *testnet.Chain, n testnet.Node) map[string]uint64 {
	t.Helper()
	counters, err := c.Nstat(n)
	if err != nil {
		t.Fatal(err)
	}
	return counters
}

// delta sums the growth of the named counters between two snapshots.
func delta(before, after map[string]uint64, names ...string) uint64 {
	var d uint64
	for _, n := range names {
		d += after[n] - before[n]
	}
	return d
}

// addrs returns side's and its peer's address of one family.
func addrs(p *testnet.Pair, v6 bool) (a, b netip.Addr) {
	if v6 {
		return p.A6, p.B6
	}
	return p.A4, p.B4
}

func family(v6 bool) string {
	if v6 {
		return "v6"
	}
	return "v4"
}

// nets makes the test pairs and waits for their links to carry packets.
// testnet.NewPair returns before they do: a new link drops what it is
// given until the kernel's linkwatch work attaches its qdisc, and that
// work, for veths made back to back, lags up to a second. Waiting once,
// after the tracer has started, overlaps that lag with the start.
type nets struct {
	links []nsLink
}

// nsLink is an interface in a named namespace.
type nsLink struct{ ns, ifname string }

func (n *nets) pair(t *testing.T) *testnet.Pair {
	t.Helper()
	p := testnet.NewPair(t)
	n.links = append(n.links, nsLink{p.NameA, p.IfA}, nsLink{p.NameB, p.IfB})
	return p
}

func (n *nets) waitReady(t *testing.T) {
	t.Helper()
	for _, l := range n.links {
		if err := faults.WaitLinkReady(faults.Named(l.ns), l.ifname, 2*time.Second); err != nil {
			t.Fatal(err)
		}
	}
}

// sendUDP sends n datagrams from A to B's testPort and returns their flow.
func sendUDP(t *testing.T, p *testnet.Pair, n int, v6 bool) testnet.Flow {
	t.Helper()
	src, dst := addrs(p, v6)
	b := faults.UDPBurst{Src: src, Dst: netip.AddrPortFrom(dst, testPort), Count: n, Payload: 100}
	sport, err := faults.SendUDP(faults.Named(p.NameA), b)
	if err != nil {
		t.Fatal(err)
	}
	return testnet.Flow{Src: src, Dst: dst, Sport: sport, Dport: testPort, Proto: "udp"}
}

// skipOldKernel is the subtest of a fault this kernel cannot build: a
// limit of the fault's own BPF program type, not of dropspot.
func skipOldKernel(why string) func(*testing.T, *Tracer) {
	return func(t *testing.T, _ *Tracer) { t.Skip(why) }
}

// A host firewall denying a port: NF_DROP from a netfilter hook at
// LOCAL_IN, after dropspot's first-priority LOCAL_IN hook (ip.local_in).
func setupFirewall(t *testing.T, nw *nets) func(*testing.T, *Tracer) {
	if !kernelAtLeast(t, 6, 4) {
		return skipOldKernel("the firewall fault is a netfilter BPF program (6.4+)")
	}
	p := nw.pair(t)
	fw, err := faults.DropPort(faults.Named(p.NameB), faults.UDP|faults.TCP, testPort)
	if err != nil {
		t.Fatal(err)
	}
	closeFault(t, fw)
	return func(t *testing.T, tr *Tracer) {
		for _, v6 := range []bool{false, true} {
			before := dropped(t, fw)
			const n = 17
			f := sendUDP(t, p, n, v6)
			waitTruth(t, "firewall counter (udp "+family(v6)+")", func() uint64 { return dropped(t, fw) - before }, n)
			expectDrops(t, tr, key(f, p.InodeB, false), n, "NETFILTER_DROP", "ip.local_in")

			// One SYN: the attempt gives up before the first
			// retransmission (1 s).
			before = dropped(t, fw)
			src, dst := addrs(p, v6)
			sport, err := faults.ConnectTCP(faults.Named(p.NameA), src, netip.AddrPortFrom(dst, testPort), 100*time.Millisecond)
			if !errors.Is(err, unix.ETIMEDOUT) {
				t.Fatalf("connect through the firewall: %v, want a timeout", err)
			}
			waitTruth(t, "firewall counter (tcp "+family(v6)+")", func() uint64 { return dropped(t, fw) - before }, 1)
			tf := testnet.Flow{Src: src, Dst: dst, Sport: sport, Dport: testPort, Proto: "tcp"}
			expectDrops(t, tr, key(tf, p.InodeB, false), 1, "NETFILTER_DROP", "ip.local_in")
		}
	}
}

// A tc ingress filter shooting packets: TC_INGRESS, after rx.core (the
// netif_receive_skb tracepoint fires before tc ingress runs).
func setupTCIngress(t *testing.T, nw *nets) func(*testing.T, *Tracer) {
	if !kernelAtLeast(t, 6, 6) {
		return skipOldKernel("the tc fault is a tcx program (6.6+)")
	}
	p := nw.pair(t)
	tc, err := faults.DropIngress(faults.Named(p.NameB), p.IfB, faults.UDP, testPort)
	if err != nil {
		t.Fatal(err)
	}
	closeFault(t, tc)
	return func(t *testing.T, tr *Tracer) {
		for _, v6 := range []bool{false, true} {
			before := dropped(t, tc)
			const n = 13
			f := sendUDP(t, p, n, v6)
			waitTruth(t, "tc counter ("+family(v6)+")", func() uint64 { return dropped(t, tc) - before }, n)
			expectDrops(t, tr, key(f, p.InodeB, false), n, "TC_INGRESS", "rx.core")
		}
	}
}

// A shaping qdisc overflowing under a burst: QDISC_DROP on the sender,
// after tx.queue (net_dev_queue fires before the enqueue). How many
// overflow depends on timing; the qdisc's own counter says.
func setupQdiscOverflow(t *testing.T, nw *nets) func(*testing.T, *Tracer) {
	p := nw.pair(t)
	return func(t *testing.T, tr *Tracer) {
		for _, v6 := range []bool{false, true} {
			// 100 kB/s, a 2000-byte bucket, 3000 bytes of queue: of 40
			// back-to-back 1042-byte frames (sent in well under a
			// millisecond) one fits the bucket and two the queue; the
			// rest overflow. The queue drains in some 20 ms.
			sh, err := faults.Shape(faults.Named(p.NameA), p.IfA, faults.ShapeConfig{Rate: 100_000, Burst: 2000, Limit: 3000})
			if err != nil {
				t.Fatal(err)
			}
			closeFault(t, sh)
			before := nstat(t, p, testnet.A)
			src, dst := addrs(p, v6)
			const n = 40
			sport, err := faults.SendUDP(faults.Named(p.NameA), faults.UDPBurst{Src: src, Dst: netip.AddrPortFrom(dst, testPort), Count: n, Payload: 1000})
			if err != nil {
				t.Fatal(err)
			}
			// Packets still queued when the qdisc goes are freed as
			// drops too: let it drain first.
			if err := sh.WaitEmpty(2 * time.Second); err != nil {
				t.Fatal(err)
			}
			st, err := sh.Stats()
			if err != nil {
				t.Fatal(err)
			}
			if err := sh.Close(); err != nil {
				t.Fatal(err)
			}
			if st.Drops == 0 || st.Drops+st.Sent != n {
				t.Fatalf("ground truth: qdisc sent %d and dropped %d of %d", st.Sent, st.Drops, n)
			}
			// The socket is not told, but UDP counts what the qdisc
			// refused.
			expectTruth(t, "Udp(6).SndbufErrors", delta(before, nstat(t, p, testnet.A), "Udp.SndbufErrors", "Udp6.SndbufErrors"), st.Drops)
			f := testnet.Flow{Src: src, Dst: dst, Sport: sport, Dport: testPort, Proto: "udp"}
			expectDrops(t, tr, key(f, p.InodeA, false), st.Drops, "QDISC_DROP", "tx.queue")
		}
	}
}

// A UDP server that stopped reading: SOCKET_RCVBUFF once its few-packet
// buffer is full, after sock.rcv (the socket filter ran before the
// enqueue failed).
func setupSocketRcvbuf(t *testing.T, nw *nets) func(*testing.T, *Tracer) {
	p := nw.pair(t)
	return func(t *testing.T, tr *Tracer) {
		for _, v6 := range []bool{false, true} {
			src, dst := addrs(p, v6)
			rx, err := faults.ListenStuck(faults.Named(p.NameB), netip.AddrPortFrom(dst, 0), 1)
			if err != nil {
				t.Fatal(err)
			}
			closeFault(t, rx)
			before := nstat(t, p, testnet.B)
			const n = 30
			sport, err := faults.SendUDP(faults.Named(p.NameA), faults.UDPBurst{Src: src, Dst: rx.Addr(), Count: n, Payload: 100})
			if err != nil {
				t.Fatal(err)
			}
			f := testnet.Flow{Src: src, Dst: dst, Sport: sport, Dport: rx.Addr().Port(), Proto: "udp"}
			// How many fit is not known in advance. IP counts a packet
			// delivered once UDP has returned, queued or dropped, so
			// when all n are, the ground truth is final.
			delivered := "Ip.InDelivers"
			if v6 {
				delivered = "Ip6.InDelivers"
			}
			waitTruth(t, delivered, func() uint64 { return delta(before, nstat(t, p, testnet.B), delivered) }, n)
			lost := dropped(t, rx)
			if lost == 0 || lost >= n {
				t.Fatalf("ground truth: Udp(6).RcvbufErrors grew by %d for %d datagrams", lost, n)
			}
			expectDrops(t, tr, key(f, p.InodeB, false), lost, "SOCKET_RCVBUFF", "sock.rcv")
			// Every datagram passed the socket filter, queued or not.
			if c := snapshot(t, tr).Flows[key(f, p.InodeB, false)]; c == nil || c.Packets[stage.SockRcv] != n {
				t.Errorf("%v: sock.rcv should count all %d datagrams: %+v", f, n, c)
			}
		}
	}
}

// Datagrams to a port nobody listens on: NO_SOCKET in UDP's receive,
// after l4.rcv.
func setupUDPClosedPort(t *testing.T, nw *nets) func(*testing.T, *Tracer) {
	p := nw.pair(t)
	return func(t *testing.T, tr *Tracer) {
		for _, v6 := range []bool{false, true} {
			before := nstat(t, p, testnet.B)
			const n = 11
			f, err := testnet.UDPToClosedPort(p, testnet.A, n, 64, v6)
			if err != nil {
				t.Fatal(err)
			}
			waitTruth(t, "Udp(6).NoPorts", func() uint64 { return delta(before, nstat(t, p, testnet.B), "Udp.NoPorts", "Udp6.NoPorts") }, n)
			expectDrops(t, tr, key(f, p.InodeB, false), n, "NO_SOCKET", "l4.rcv")
		}
	}
}

// SYNs to a closed TCP port: each answered by a reset and dropped as
// NO_SOCKET in tcp_v4_rcv/tcp_v6_rcv, after l4.rcv. Each attempt gets a
// source port from the kernel, which may hand the same one out again (a
// refused connection leaves no TIME_WAIT), so attempts are counted per
// flow.
func setupTCPClosedPort(t *testing.T, nw *nets) func(*testing.T, *Tracer) {
	p := nw.pair(t)
	return func(t *testing.T, tr *Tracer) {
		for _, v6 := range []bool{false, true} {
			src, dst := addrs(p, v6)
			before := nstat(t, p, testnet.B)
			const n = 5
			attempts := map[testnet.Flow]uint64{}
			for range n {
				sport, err := faults.ConnectTCP(faults.Named(p.NameA), src, netip.AddrPortFrom(dst, testPort), time.Second)
				if !errors.Is(err, unix.ECONNREFUSED) {
					t.Fatalf("connect to a closed port: %v, want ECONNREFUSED", err)
				}
				attempts[testnet.Flow{Src: src, Dst: dst, Sport: sport, Dport: testPort, Proto: "tcp"}]++
			}
			// The reset reached A, so B counted it.
			expectTruth(t, "Tcp.OutRsts", delta(before, nstat(t, p, testnet.B), "Tcp.OutRsts"), n)
			for f, syns := range attempts {
				expectDrops(t, tr, key(f, p.InodeB, false), syns, "NO_SOCKET", "l4.rcv")
			}
		}
	}
}

// Corrupted packets written onto A's veth with AF_PACKET arrive at B
// CHECKSUM_NONE, so B checks them in software: a bad IPv4 header checksum
// is IP_CSUM in ip_rcv_core (before PRE_ROUTING: last stage rx.core); bad
// UDP/TCP checksums to a closed port are UDP_CSUM/TCP_CSUM in the
// protocol's receive (after l4.rcv).
func setupBadChecksums(t *testing.T, nw *nets) func(*testing.T, *Tracer) {
	p := nw.pair(t)
	in, err := faults.NewInjector(faults.Named(p.NameA), p.IfA)
	if err != nil {
		t.Fatal(err)
	}
	closeFault(t, in)
	return func(t *testing.T, tr *Tracer) {
		for i, c := range []struct {
			proto   faults.Proto
			corrupt faults.Corruption
			v6      bool
			counter string
			reason  string
			stage   string
		}{
			{faults.UDP, faults.BadIPChecksum, false, "IpExt.InCsumErrors", "IP_CSUM", headerCheckStage(tr)},
			{faults.TCP, faults.BadIPChecksum, false, "IpExt.InCsumErrors", "IP_CSUM", headerCheckStage(tr)},
			{faults.UDP, faults.BadL4Checksum, false, "Udp.InCsumErrors", "UDP_CSUM", "l4.rcv"},
			{faults.UDP, faults.BadL4Checksum, true, "Udp6.InCsumErrors", "UDP_CSUM", "l4.rcv"},
			{faults.TCP, faults.BadL4Checksum, false, "Tcp.InCsumErrors", "TCP_CSUM", "l4.rcv"},
			{faults.TCP, faults.BadL4Checksum, true, "Tcp.InCsumErrors", "TCP_CSUM", "l4.rcv"},
		} {
			src, dst := addrs(p, c.v6)
			pkt := faults.Packet{
				Src:     netip.AddrPortFrom(src, uint16(40000+i)),
				Dst:     netip.AddrPortFrom(dst, testPort),
				Proto:   c.proto,
				Payload: 32,
				Corrupt: c.corrupt,
			}
			before := nstat(t, p, testnet.B)
			const n = 7
			if err := in.Send(pkt, n); err != nil {
				t.Fatal(err)
			}
			waitTruth(t, c.counter, func() uint64 { return delta(before, nstat(t, p, testnet.B), c.counter) }, n)
			proto := map[faults.Proto]string{faults.UDP: "udp", faults.TCP: "tcp"}[c.proto]
			f := testnet.Flow{Src: src, Dst: dst, Sport: pkt.Src.Port(), Dport: testPort, Proto: proto}
			expectDrops(t, tr, key(f, p.InodeB, false), n, c.reason, c.stage)
		}
	}
}

// Strict reverse-path filtering on B's veth and packets from a source
// inside 198.18.0.0/15 that B has no route back to: IP_RPFILTER in the
// input route lookup, after PRE_ROUTING (ip.rcv).
func setupRPFilter(t *testing.T, nw *nets) func(*testing.T, *Tracer) {
	p := nw.pair(t)
	rp, err := faults.StrictRPFilter(faults.Named(p.NameB), p.IfB)
	if err != nil {
		t.Fatal(err)
	}
	closeFault(t, rp)
	in, err := faults.NewInjector(faults.Named(p.NameA), p.IfA)
	if err != nil {
		t.Fatal(err)
	}
	closeFault(t, in)
	return func(t *testing.T, tr *Tracer) {
		// Same /15, another /24.
		a := p.A4.As4()
		a[2] ^= 0x80
		spoofed := netip.AddrFrom4(a)
		pkt := faults.Packet{Src: netip.AddrPortFrom(spoofed, 40000), Dst: netip.AddrPortFrom(p.B4, testPort), Proto: faults.UDP, Payload: 32}
		const n = 9
		if err := in.Send(pkt, n); err != nil {
			t.Fatal(err)
		}
		waitTruth(t, "TcpExt.IPReversePathFilter", func() uint64 { return dropped(t, rp) }, n)
		f := testnet.Flow{Src: spoofed, Dst: p.B4, Sport: 40000, Dport: testPort, Proto: "udp"}
		expectDrops(t, tr, key(f, p.InodeB, false), n, "IP_RPFILTER", "ip.rcv")
	}
}

// Datagrams sent with TTL (hop limit) 1 through a router: R drops them as
// IP_INHDR in ip_forward/ip6_forward and answers each with a time
// exceeded. Those checks come before the FORWARD hook, so with netfilter
// hooks the last stage passed is ip.rcv, not ip.forward.
func setupTTLExpired(t *testing.T, nw *nets) func(*testing.T, *Tracer) {
	c := testnet.NewChain(t)
	return func(t *testing.T, tr *Tracer) {
		for _, v6 := range []bool{false, true} {
			src, dst := c.A4, c.B4
			inHdr, timeExcds := "Ip.InHdrErrors", "Icmp.OutTimeExcds"
			if v6 {
				src, dst = c.A6, c.B6
				inHdr, timeExcds = "Ip6.InHdrErrors", "Icmp6.OutTimeExcds"
			}
			before := chainNstat(t, c, testnet.NodeR)
			const n = 8
			b := faults.UDPBurst{Src: src, Dst: netip.AddrPortFrom(dst, testPort), Count: n, Payload: 100, TTL: 1}
			sport, err := faults.SendUDP(faults.Named(c.NameA), b)
			if err != nil {
				t.Fatal(err)
			}
			grown := func(name string) func() uint64 {
				return func() uint64 {
					return delta(before, chainNstat(t, c, testnet.NodeR), name)
				}
			}
			waitTruth(t, inHdr, grown(inHdr), n)
			waitTruth(t, timeExcds, grown(timeExcds), n)
			f := testnet.Flow{Src: src, Dst: dst, Sport: sport, Dport: testPort, Proto: "udp"}
			expectDrops(t, tr, key(f, c.InodeR, false), n, "IP_INHDR", forwardCheckStage(tr))
		}
	}
}

// A healthy TCP connection loses nothing, in either direction, on either
// side.
func setupHealthyTCP(t *testing.T, nw *nets) func(*testing.T, *Tracer) {
	p := nw.pair(t)
	return func(t *testing.T, tr *Tracer) {
		for _, v6 := range []bool{false, true} {
			f, err := testnet.TCP(p, testnet.A, 200000, v6)
			if err != nil {
				t.Fatal(err)
			}
			snap := snapshot(t, tr)
			for _, ns := range []uint32{p.InodeA, p.InodeB} {
				for _, rev := range []bool{false, true} {
					k := key(f, ns, rev)
					if snap.Flows[k] == nil {
						t.Errorf("%v: no flow entry: the tracer saw nothing", k)
					}
					if got := dropTotal(snap, k); got != 0 {
						expectDrops(t, tr, k, 0, "", "") // names them
					}
				}
			}
		}
	}
}
