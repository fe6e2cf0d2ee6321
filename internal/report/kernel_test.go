package report_test

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/dropspot/dropspot/internal/faults"
	"github.com/dropspot/dropspot/internal/filter"
	"github.com/dropspot/dropspot/internal/flow"
	"github.com/dropspot/dropspot/internal/hookplan"
	"github.com/dropspot/dropspot/internal/report"
	"github.com/dropspot/dropspot/internal/stage"
	"github.com/dropspot/dropspot/internal/testnet"
	"github.com/dropspot/dropspot/internal/tracer"
)

// TestKernelReports traces real traffic in a pair of namespaces and
// checks the reports Build makes of it — drop stages, loss analysis,
// benign frees — against what was sent and the kernel's own counters.
// The tracer starts once (the slow part); each subtest has flows of its
// own.
func TestKernelReports(t *testing.T) {
	testnet.RequirePrivileged(t)
	p := testnet.NewPair(t)
	for _, l := range []struct{ ns, ifname string }{{p.NameA, p.IfA}, {p.NameB, p.IfB}} {
		if err := faults.WaitLinkReady(faults.Named(l.ns), l.ifname, 2*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	names, err := report.LoadNamer()
	if err != nil {
		t.Fatal(err)
	}
	k := &kernel{t: t, p: p, tr: startTracer(t, p), names: names}
	t.Run("fragment-timeout", k.fragmentTimeout)
	t.Run("raw-ping", k.rawPing)
	t.Run("echo-replies-nobody-wants", k.unwantedEchoReplies)
	t.Run("tcp-close", func(t *testing.T) { k.tcpClose(t, testnet.TCP) })
	// The client's FIN reaches the server's timewait entry in about half
	// the closes (NOT_SPECIFIED at tcp_v4_rcv, no payload): several, so
	// that some do.
	t.Run("tcp-server-closes-first", func(t *testing.T) {
		for range 8 {
			k.tcpClose(t, testnet.TCPServerCloses)
		}
	})
}

// kernel is what the subtests share.
type kernel struct {
	t     *testing.T
	p     *testnet.Pair
	tr    *tracer.Tracer
	names report.Namer
}

// startTracer counts only the pair's addresses: the host's traffic is
// none of the test's business.
func startTracer(t *testing.T, p *testnet.Pair) *tracer.Tracer {
	t.Helper()
	prog, err := filter.Compile(fmt.Sprintf("net %s or net %s",
		netip.PrefixFrom(p.A4, 24).Masked(), netip.PrefixFrom(p.A6, 64).Masked()))
	if err != nil {
		t.Fatal(err)
	}
	tr, err := tracer.Start(tracer.Config{Filter: flow.Filter{Program: prog}})
	if err != nil {
		t.Fatalf("tracer: %v", err)
	}
	t.Cleanup(tr.Close)
	return tr
}

// settle bounds every wait for the kernel: for the drop tracepoint to
// run after a counter moved, for packets in flight.
const settle = 3 * time.Second

// waitCounter waits until c's counter name has grown by want, for
// settle beyond after at most: a timer's drops come after seconds, later
// on a busy machine.
func waitCounter(t *testing.T, c *faults.Counters, name string, want uint64, after time.Duration) {
	t.Helper()
	var got uint64
	for deadline := time.Now().Add(after + settle); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		d, err := c.Delta()
		if err != nil {
			t.Fatal(err)
		}
		if got = d[name]; got >= want {
			break
		}
	}
	if got != want {
		t.Fatalf("ground truth: %s grew by %d, want %d", name, got, want)
	}
}

// report builds reports until done accepts one, for settle at most, and
// returns the last.
func (k *kernel) report(done func(*report.Report) bool) *report.Report {
	k.t.Helper()
	for deadline := time.Now().Add(settle); ; time.Sleep(20 * time.Millisecond) {
		snap, err := k.tr.Snapshot()
		if err != nil {
			k.t.Fatal(err)
		}
		r := report.Build(snap, k.tr.Plan.Hooks, k.names)
		if done(r) || time.Now().After(deadline) {
			return r
		}
	}
}

// flowOf finds the report's record of f's direction (reversed: the
// answers') in namespace netns, or nil.
func flowOf(r *report.Report, f testnet.Flow, netns uint32, reversed bool) *report.Flow {
	src, sport, dst, dport := f.Src.String(), f.Sport, f.Dst.String(), f.Dport
	if reversed {
		src, sport, dst, dport = dst, dport, src, sport
	}
	for i := range r.Flows {
		x := &r.Flows[i]
		if x.Proto == f.Proto && x.Src == src && x.Sport == sport && x.Dst == dst && x.Dport == dport && x.Netns == netns {
			return x
		}
	}
	return nil
}

// total adds up the packets of drops (or benign frees).
func total(list []report.Drop) uint64 {
	var n uint64
	for _, d := range list {
		n += d.Count
	}
	return n
}

// atFunction tells whether the plan observes s at a kernel function's
// entry (fentry, kprobe) rather than at a netfilter hook or tracepoint.
func (k *kernel) atFunction(s stage.Stage) bool {
	for _, h := range k.tr.Plan.Hooks {
		if h.Stage == s {
			return h.Kind == hookplan.Fentry || h.Kind == hookplan.Kprobe
		}
	}
	return false
}

// First fragments of UDP datagrams that never complete, into a namespace
// whose reassembly gives up after a second: each is dropped as
// FRAG_REASM_TIMEOUT when its timer fires, on whatever CPU, long after
// its path. Every drop must sit after the last stage the fragment
// passed, and the loss analysis must explain the whole decrease. IPv4
// reassembles in ip_local_deliver before netfilter's LOCAL_IN (so after
// ip.rcv; after a function hook on ip_local_deliver too); IPv6 as the
// fragment header's protocol handler, after LOCAL_IN (so after l4.rcv,
// or after ip.local_in when l4.rcv is tcp_v6_rcv/udpv6_rcv's entry).
// Ground truth: what was sent, and Ip(6).ReasmTimeout.
func (k *kernel) fragmentTimeout(t *testing.T) {
	const timeout = 1 // second
	re, err := faults.ShortReassembly(faults.Named(k.p.NameB), timeout)
	if err != nil {
		t.Fatal(err)
	}
	defer re.Close()
	in, err := faults.NewInjector(faults.Named(k.p.NameA), k.p.IfA)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	for i, v6 := range []bool{false, true} {
		src, dst, counter, want := k.p.A4, k.p.B4, "Ip.ReasmTimeout", stage.IPRcv
		if k.atFunction(stage.IPLocalIn) {
			want = stage.IPLocalIn
		}
		if v6 {
			src, dst, counter, want = k.p.A6, k.p.B6, "Ip6.ReasmTimeout", stage.L4Rcv
			if k.atFunction(stage.L4Rcv) {
				want = stage.IPLocalIn
			}
		}
		const n = 200
		f := testnet.Flow{Src: src, Dst: dst, Sport: uint16(40000 + i), Dport: 4242, Proto: "udp"}
		pkt := faults.Packet{Src: netip.AddrPortFrom(src, f.Sport), Dst: netip.AddrPortFrom(dst, f.Dport),
			Proto: faults.UDP, Payload: 64, Fragment: uint32(1000 * (i + 1))}
		if err := in.Send(pkt, n); err != nil {
			t.Fatal(err)
		}
		waitCounter(t, re.Counters, counter, n, timeout*time.Second)
		r := k.report(func(r *report.Report) bool {
			f := flowOf(r, f, k.p.InodeB, false)
			return f != nil && total(f.Drops) >= n
		})
		got := flowOf(r, f, k.p.InodeB, false)
		if got == nil {
			t.Fatalf("%v: no flow in the report", f)
		}
		for _, d := range got.Drops {
			if d.Reason != "FRAG_REASM_TIMEOUT" || d.Stage != want.String() {
				t.Errorf("%v: %d dropped as %s after %s at %s, want FRAG_REASM_TIMEOUT after %v",
					f, d.Count, d.Reason, d.Stage, d.Location, want)
			}
		}
		if c := total(got.Drops); c != n {
			t.Errorf("%v: %d drops, want %d", f, c, n)
		}
		if len(got.Losses) != 1 || got.Losses[0].From != want.String() || got.Losses[0].Packets != n || got.Losses[0].Unexplained != 0 {
			t.Errorf("%v: losses %+v, want one of %d after %v, all explained", f, got.Losses, n, want)
		}
	}
}

// flows finds f's record in namespace netns (reversed: its answers'),
// failing the test if the report has none.
func flows(t *testing.T, r *report.Report, f testnet.Flow, netns uint32, reversed bool) *report.Flow {
	t.Helper()
	got := flowOf(r, f, netns, reversed)
	if got == nil {
		t.Fatalf("%v (reversed %v) in netns %d: no flow in the report", f, reversed, netns)
	}
	return got
}

// echoRepliesIn names the counter of echo replies received.
func echoRepliesIn(v6 bool) string {
	if v6 {
		return "Icmp6.InEchoReplies"
	}
	return "Icmp.InEchoReps"
}

// echoReplies runs send, which makes n echo replies arrive in namespace
// A, and returns the report once all n are freed, with their flow (the
// answers' direction of what send returns when reversed). It checks the
// ground truth first: A's Icmp(6) counter of echo replies.
func (k *kernel) echoReplies(t *testing.T, v6 bool, n uint64, reversed bool, send func() (testnet.Flow, error)) (*report.Report, testnet.Flow, *report.Flow) {
	t.Helper()
	replies, err := faults.WatchCounters(faults.Named(k.p.NameA), echoRepliesIn(v6))
	if err != nil {
		t.Fatal(err)
	}
	f, err := send()
	if err != nil {
		t.Fatal(err)
	}
	waitCounter(t, replies, echoRepliesIn(v6), n, 0)
	r := k.report(func(r *report.Report) bool {
		f := flowOf(r, f, k.p.InodeA, reversed)
		return f != nil && total(f.Benign)+total(f.Drops) >= n
	})
	return r, f, flows(t, r, f, k.p.InodeA, reversed)
}

// expectAll fails t unless every entry is of reason after stage.
func expectAll(t *testing.T, what string, list []report.Drop, reason, stage string) {
	t.Helper()
	for _, d := range list {
		if d.Reason != reason || d.Stage != stage {
			t.Errorf("%s: %+v, want %s after %s", what, d, reason, stage)
		}
	}
}

// ping(8) over a raw socket: every reply reaches the raw socket (PingRaw
// waits for each: the ground truth, with the Icmp(6) counter) and is also
// freed as NO_SOCKET in ping_rcv, as no ping socket has its identifier.
// Those frees are benign: no drop, no loss.
func (k *kernel) rawPing(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		const n = 50
		r, f, reply := k.echoReplies(t, v6, n, true, func() (testnet.Flow, error) { return testnet.PingRaw(k.p, testnet.A, n, v6) })
		if len(reply.Drops) != 0 || len(reply.Losses) != 0 {
			t.Errorf("%v replies: drops %+v, losses %+v; want none", f, reply.Drops, reply.Losses)
		}
		expectAll(t, f.String()+" replies benign", reply.Benign, "NO_SOCKET", "l4.rcv")
		if got := total(reply.Benign); got != n {
			t.Errorf("%v replies: %d benign, want %d: %+v", f, got, n, reply.Benign)
		}
		if req := flows(t, r, f, k.p.InodeB, false); len(req.Drops) != 0 || len(req.Losses) != 0 {
			t.Errorf("%v requests: drops %+v, losses %+v; want none", f, req.Drops, req.Losses)
		}
	}
}

// Echo replies nobody asked for, with no raw socket in the namespace:
// the same free in ping_rcv, but now the replies are lost, and must stay
// drops. Ground truth: the receiver's Icmp(6) counter, and no socket.
func (k *kernel) unwantedEchoReplies(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		const n = 20
		_, f, got := k.echoReplies(t, v6, n, false, func() (testnet.Flow, error) { return testnet.EchoReplies(k.p, testnet.B, n, v6) })
		if len(got.Benign) != 0 {
			t.Errorf("%v: benign %+v, want none", f, got.Benign)
		}
		expectAll(t, f.String()+" drops", got.Drops, "NO_SOCKET", "l4.rcv")
		if c := total(got.Drops); c != n || len(got.Losses) != 1 || got.Losses[0].Packets != n {
			t.Errorf("%v: %d drops, losses %+v; want %d lost", f, c, got.Losses, n)
		}
	}
}

// A TCP connection opened, 1 MiB sent, closed in both directions
// (testnet.TCP checks every byte arrived): no drops and no losses, in
// either direction on either side; benign frees only.
func (k *kernel) tcpClose(t *testing.T, connect func(*testnet.Pair, testnet.Side, int, bool) (testnet.Flow, error)) {
	for _, v6 := range []bool{false, true} {
		f, err := connect(k.p, testnet.A, 1<<20, v6)
		if err != nil {
			t.Fatal(err)
		}
		type direction struct {
			netns    uint32
			reversed bool
		}
		directions := []direction{{k.p.InodeA, false}, {k.p.InodeA, true}, {k.p.InodeB, false}, {k.p.InodeB, true}}
		// The last ACK may be on its way when TCP returns.
		r := k.report(func(r *report.Report) bool {
			for _, d := range directions {
				if f := flowOf(r, f, d.netns, d.reversed); f == nil || len(f.Losses) != 0 {
					return false
				}
			}
			return true
		})
		for _, d := range directions {
			got := flows(t, r, f, d.netns, d.reversed)
			if len(got.Drops) != 0 || len(got.Losses) != 0 {
				t.Errorf("%v (reversed %v) in netns %d: drops %+v, losses %+v; want none", f, d.reversed, d.netns, got.Drops, got.Losses)
			}
			if len(got.Benign) > 0 {
				t.Logf("%v (reversed %v) in netns %d: benign %+v", f, d.reversed, d.netns, got.Benign)
			}
		}
	}
}
