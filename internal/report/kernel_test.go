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
// checks the reports Build makes of it — drop stages, loss analysis —
// against what was sent and the kernel's own counters.
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

// settle bounds every wait for the kernel: for a timer to fire, for the
// drop tracepoint to run after a counter moved.
const settle = 3 * time.Second

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

func dropCount(f *report.Flow) uint64 {
	var n uint64
	for _, d := range f.Drops {
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
	re, err := faults.ShortReassembly(faults.Named(k.p.NameB), 1)
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
		r := k.report(func(r *report.Report) bool {
			f := flowOf(r, f, k.p.InodeB, false)
			return f != nil && dropCount(f) >= n
		})
		delta, err := re.Delta()
		if err != nil {
			t.Fatal(err)
		}
		if delta[counter] != n {
			t.Fatalf("ground truth: %s grew by %d, want %d", counter, delta[counter], n)
		}
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
		if c := dropCount(got); c != n {
			t.Errorf("%v: %d drops, want %d", f, c, n)
		}
		if len(got.Losses) != 1 || got.Losses[0].From != want.String() || got.Losses[0].Packets != n || got.Losses[0].Unexplained != 0 {
			t.Errorf("%v: losses %+v, want one of %d after %v, all explained", f, got.Losses, n, want)
		}
	}
}
