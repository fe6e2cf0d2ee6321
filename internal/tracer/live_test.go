package tracer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dropspot/dropspot/internal/flow"
	"github.com/dropspot/dropspot/internal/report"
	"github.com/dropspot/dropspot/internal/stage"
	"github.com/dropspot/dropspot/internal/testnet"
)

// Live traffic: every test here starts its flow before dropspot starts
// and keeps it running until after dropspot has stopped, so packets are
// in flight at both edges of the counting window. A healthy flow must
// come out with every stage of each namespace's path equal and no loss.

// liveFlow is traffic that runs until stopped (at most liveLimit).
type liveFlow struct {
	stop chan struct{}
	once sync.Once
	wg   sync.WaitGroup
	errs chan error
	// sent counts the sender's completed writes: traceLive's proof that
	// the flow moved while dropspot counted.
	sent atomic.Int64
}

const (
	// liveLimit bounds every generator, whatever happens (a test stops
	// its own sooner, even when it fails): far above the 94 s a tracer
	// took to start in the kernel matrix's emulation beside a live TCP
	// stream, when a bound of 90 s ended the stream before the window.
	liveLimit = 5 * time.Minute
	// liveWait bounds how long a counting window waits for the traffic
	// it must hold.
	liveWait   = 30 * time.Second
	liveBefore = 300 * time.Millisecond
	liveDuring = time.Second
	liveAfter  = 300 * time.Millisecond
	// liveProgress: the sender's writes the counting window must hold.
	// A loaded host (the kernel matrix's three emulated VMs on two cores
	// and a benchmark beside them) once starved a live TCP flow for the
	// whole second: nothing to count, and "no record" of it.
	liveProgress = 20
)

// newLiveFlow's traffic stops at the end of t at the latest: a test that
// fails before it calls end must not leave it running into the next.
func newLiveFlow(t *testing.T) *liveFlow {
	l := &liveFlow{stop: make(chan struct{}), errs: make(chan error, 4)}
	t.Cleanup(l.halt)
	return l
}

func (l *liveFlow) run(fn func(stopped func() bool) error) {
	deadline := time.Now().Add(liveLimit)
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		stopped := func() bool {
			select {
			case <-l.stop:
				return true
			default:
				return time.Now().After(deadline)
			}
		}
		if err := fn(stopped); err != nil {
			l.errs <- err
		}
	}()
}

// halt stops the traffic and waits for its generators.
func (l *liveFlow) halt() {
	l.once.Do(func() { close(l.stop) })
	l.wg.Wait()
}

// end stops the traffic and reports its generators' errors.
func (l *liveFlow) end(t *testing.T) {
	t.Helper()
	l.halt()
	close(l.errs)
	for err := range l.errs {
		t.Error(err)
	}
}

// liveUDP sends datagrams from a socket made by inSrc to one made by
// inDst, about 5000 a second, and reads them.
func liveUDP(t *testing.T, l *liveFlow, inSrc, inDst func(func() error) error, src, dst netip.Addr) {
	t.Helper()
	liveUDPVia(t, l, inSrc, inDst, src, netip.AddrPortFrom(dst, 0), netip.AddrPort{})
}

// liveUDPVia is liveUDP with the reader on listen, and the sender sending
// to via (a translated address) or, if via is not valid, to the reader.
func liveUDPVia(t *testing.T, l *liveFlow, inSrc, inDst func(func() error) error, src netip.Addr, listen, via netip.AddrPort) {
	t.Helper()
	var rx, tx *net.UDPConn
	if err := inDst(func() (err error) {
		rx, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(listen))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	to := rx.LocalAddr().(*net.UDPAddr)
	if via.IsValid() {
		to = net.UDPAddrFromAddrPort(via)
	}
	if err := inSrc(func() (err error) {
		tx, err = net.DialUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(src, 0)), to)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	// A slow reader on a busy machine must not make real drops.
	if err := testnet.ForceRcvBuf(rx); err != nil {
		t.Fatal(err)
	}
	l.run(func(stopped func() bool) error {
		defer tx.Close()
		payload := make([]byte, 100)
		for !stopped() {
			if _, err := tx.Write(payload); err != nil {
				return fmt.Errorf("live udp send: %w", err)
			}
			l.sent.Add(1)
			time.Sleep(200 * time.Microsecond)
		}
		return nil
	})
	l.run(func(stopped func() bool) error {
		defer rx.Close()
		buf := make([]byte, 2048)
		for !stopped() {
			rx.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			if _, err := rx.Read(buf); err != nil && !errors.Is(err, context.DeadlineExceeded) && !isTimeout(err) {
				return fmt.Errorf("live udp receive: %w", err)
			}
		}
		return nil
	})
}

// liveTCP streams bytes over one connection from inSrc to inDst.
func liveTCP(t *testing.T, l *liveFlow, inSrc, inDst func(func() error) error, src, dst netip.Addr) {
	t.Helper()
	liveTCPVia(t, l, inSrc, inDst, src, netip.AddrPortFrom(dst, 0), netip.AddrPort{})
}

// liveTCPVia is liveTCP with the server on listen, and the client
// connecting to via (a translated address) or, if via is not valid, to
// the server.
func liveTCPVia(t *testing.T, l *liveFlow, inSrc, inDst func(func() error) error, src netip.Addr, listen, via netip.AddrPort) {
	t.Helper()
	liveTCPStream(t, l, inSrc, inDst, src, listen, via, false)
}

// liveTCPStream is liveTCPVia with the bytes going from the server to the
// client when fromServer.
func liveTCPStream(t *testing.T, l *liveFlow, inSrc, inDst func(func() error) error, src netip.Addr, listen, via netip.AddrPort, fromServer bool) {
	t.Helper()
	var ln *net.TCPListener
	var c *net.TCPConn
	if err := inDst(func() (err error) {
		ln, err = net.ListenTCP("tcp", net.TCPAddrFromAddrPort(listen))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	to := ln.Addr().(*net.TCPAddr)
	if via.IsValid() {
		to = net.TCPAddrFromAddrPort(via)
	}
	if err := inSrc(func() (err error) {
		c, err = net.DialTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0)), to)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	s, err := ln.AcceptTCP()
	if err != nil {
		t.Fatal(err)
	}
	w, r := c, s
	if fromServer {
		w, r = s, c
	}
	l.run(func(stopped func() bool) error {
		defer w.Close()
		chunk := make([]byte, 16<<10)
		for !stopped() {
			w.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
			if _, err := w.Write(chunk); err == nil {
				l.sent.Add(1)
			} else if !isTimeout(err) {
				return fmt.Errorf("live tcp send: %w", err)
			}
			time.Sleep(time.Millisecond)
		}
		return nil
	})
	l.run(func(stopped func() bool) error {
		defer r.Close()
		_, err := io.Copy(io.Discard, r)
		return err
	})
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// traceLive starts dropspot while l runs, counts for liveDuring (and on,
// bounded, until the sender has written liveProgress times since the
// start), drains and reads (the snapshot, and the report built from it),
// and stops the traffic liveAfter later.
func traceLive(t *testing.T, l *liveFlow, cfg Config) (*Tracer, *flow.Snapshot, *report.Report) {
	t.Helper()
	time.Sleep(liveBefore)
	tr := start(t, cfg)
	sent := l.sent.Load()
	time.Sleep(liveDuring)
	holdWindow(t, "the live flow's sender's writes", liveProgress, func() uint64 { return uint64(l.sent.Load() - sent) })
	if err := tr.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	snap := snapshot(t, tr)
	time.Sleep(liveAfter)
	l.end(t)
	return tr, snap, report.Build(snap, tr.Plan.Hooks, report.Namer{})
}

// holdWindow keeps a counting window open, liveWait at most, until count
// (what it holds of the traffic, named by what) reaches want.
func holdWindow(t *testing.T, what string, want uint64, count func() uint64) {
	t.Helper()
	for deadline := time.Now().Add(liveWait); ; time.Sleep(10 * time.Millisecond) {
		n := count()
		if n >= want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d in %v of counting, want %d", what, n, liveWait, want)
		}
	}
}

// pathStages are the stages of each path of a socket flow.
var pathStages = func() map[string][]stage.Stage {
	in := []stage.Stage{stage.RxDriver, stage.RxCore, stage.IPRcv, stage.IPLocalIn, stage.L4Rcv, stage.SockRcv}
	out := []stage.Stage{stage.IPLocalOut, stage.IPPostrouting, stage.TxQueue, stage.TxXmit, stage.TxDone}
	fwd := []stage.Stage{stage.RxDriver, stage.RxCore, stage.IPRcv, stage.IPForward, stage.IPPostrouting,
		stage.TxQueue, stage.TxXmit, stage.TxDone}
	return map[string][]stage.Stage{"local-in": in, "local-out": out, "forward": fwd, "loopback": append(out[:len(out):len(out)], in...)}
}()

// pathLength is how many stages of a socket flow's path the plan hooked
// (ip.local_out has none before 6.4).
func pathLength(tr *Tracer, path string) int {
	n := 0
	for _, s := range pathStages[path] {
		if tr.Plan.Hooked(s) {
			n++
		}
	}
	return n
}

// expectWhole checks every record of a flow between the addresses: one per
// namespace in want (path by namespace), each stage of its path equal
// and counted, no loss, nothing in flight.
func expectWhole(t *testing.T, tr *Tracer, r *report.Report, src, dst netip.Addr, want map[uint32]string) {
	t.Helper()
	expectWindowed(t, tr, r, src, dst, want, false)
}

// expectWindowed is expectWhole, but with inFlight a packet may be on its
// way at the end (reported in flight, never as loss). Either way a stage
// never counts more than the one before it, and every decrease is a
// kernel drop the report names (a busy machine may really drop a
// segment), a benign free or a packet in flight: no phantom loss — but
// for the runs the kernel skipped of a stage's program, which the report
// counts (a packet such a stage missed may begin its path at the next).
func expectWindowed(t *testing.T, tr *Tracer, r *report.Report, src, dst netip.Addr, want map[uint32]string, inFlight bool) {
	t.Helper()
	seen := map[uint32]bool{}
	for _, f := range r.Flows {
		ends := [2]string{f.Src, f.Dst}
		if ends != [2]string{src.String(), dst.String()} && ends != [2]string{dst.String(), src.String()} {
			continue
		}
		name := fmt.Sprintf("%s %s:%d -> %s:%d netns %d (%s)", f.Proto, f.Src, f.Sport, f.Dst, f.Dport, f.Netns, f.Path)
		if ends[0] == src.String() {
			seen[f.Netns] = true
			if path, ok := want[f.Netns]; !ok || f.Path != path {
				t.Errorf("%s: path %q, want %q", name, f.Path, path)
			}
		}
		var prev uint64
		var prevStage string
		var counted int
		for s, n := range f.StagePackets() {
			if n == 0 {
				continue
			}
			if counted > 0 && n > prev {
				if missed := r.Totals[prevStage].RunsMissed; n-prev <= missed {
					t.Logf("%s: %s = %d after %d: %s's program missed %d runs", name, s, n, prev, prevStage, missed)
				} else {
					t.Errorf("%s: %s = %d after %d (%s's program missed %d runs)", name, s, n, prev, prevStage, missed)
				}
			}
			counted++
			prev, prevStage = n, s
		}
		if want := pathLength(tr, f.Path); counted != want {
			t.Errorf("%s: %d stages counted, want %d: %v", name, counted, want, maps.Collect(f.StagePackets()))
		}
		for _, l := range f.Losses {
			if missed := r.Totals[l.To].RunsMissed; l.Unexplained > missed {
				t.Errorf("%s: %d lost between %s and %s without a kernel drop (%s's program missed %d runs)", name,
					l.Unexplained, l.From, l.To, l.To, missed)
			} else if l.Unexplained > 0 {
				t.Logf("%s: %d lost between %s and %s: %s's program missed %d runs", name, l.Unexplained, l.From, l.To, l.To, missed)
			}
			for _, d := range l.Drops {
				t.Logf("%s: the kernel dropped %d: %s after %s at %s", name, d.Count, d.Reason, d.Stage, d.Location)
			}
		}
		if f.InFlight > 0 && !inFlight {
			t.Errorf("%s: %d in flight after the drain", name, f.InFlight)
		}
	}
	for ns, path := range want {
		// A path of which no stage is chosen (seed's local-out) has
		// nothing to count.
		if !seen[ns] && pathLength(tr, path) > 0 {
			t.Errorf("no record of %v -> %v in netns %d", src, dst, ns)
		}
	}
}

// liveCase is one kind of live flow: UDP or TCP, IPv4 or IPv6.
type liveCase struct {
	name string
	v6   bool
	gen  func(*testing.T, *liveFlow, func(func() error) error, func(func() error) error, netip.Addr, netip.Addr)
}

var liveCases = []liveCase{{"udp4", false, liveUDP}, {"udp6", true, liveUDP}, {"tcp4", false, liveTCP}, {"tcp6", true, liveTCP}}

// liveStageSets: every case runs with every preset too. The counting
// window's path rules read stage bits; with fewer stages a path begins
// and ends at other stages, and must still give no false loss, and the
// report must tell the route from the stages it has.
var liveStageSets = []stage.Set{stage.AllStages, stage.Seed, stage.Serve}

// forEachLive runs fn for every live case with every stage set; -short
// (the kernel matrix, where each start verifies the programs under
// emulation for ~20 s) with `all` only: the window's code is the same.
func forEachLive(t *testing.T, fn func(t *testing.T, tc liveCase, stages stage.Set)) {
	sets := liveStageSets
	if testing.Short() {
		sets = sets[:1]
	}
	for _, stages := range sets {
		for _, tc := range liveCases {
			t.Run(stages.String()+"/"+tc.name, func(t *testing.T) { fn(t, tc, stages) })
		}
	}
}

func TestLiveFlowsAcrossAPair(t *testing.T) {
	testnet.RequirePrivileged(t)
	forEachLive(t, func(t *testing.T, tc liveCase, stages stage.Set) {
		p := testnet.NewPair(t)
		src, dst := p.A4, p.B4
		if tc.v6 {
			src, dst = p.A6, p.B6
		}
		l := newLiveFlow(t)
		tc.gen(t, l, func(fn func() error) error { return p.Do(testnet.A, fn) },
			func(fn func() error) error { return p.Do(testnet.B, fn) }, src, dst)
		tr, _, r := traceLive(t, l, Config{Stages: stages})
		expectWhole(t, tr, r, src, dst, map[uint32]string{p.InodeA: "local-out", p.InodeB: "local-in"})
	})
}

// TestLiveTCPWithoutGSO: with segmentation offload off on the veth, TCP
// still builds super-packets and the device path splits them into new
// skbs after tx.queue; those follow their parent's admission.
func TestLiveTCPWithoutGSO(t *testing.T) {
	testnet.RequirePrivileged(t)
	p := testnet.NewPair(t)
	for side, dev := range map[testnet.Side]string{testnet.A: p.IfA, testnet.B: p.IfB} {
		if err := p.Do(side, func() error { return testnet.SetOffloads(dev, false) }); err != nil {
			t.Fatal(err)
		}
	}
	l := newLiveFlow(t)
	liveTCP(t, l, func(fn func() error) error { return p.Do(testnet.A, fn) },
		func(fn func() error) error { return p.Do(testnet.B, fn) }, p.A4, p.B4)
	tr, _, r := traceLive(t, l, Config{})
	// The super-packet being split when the window closes may have its
	// segments' tx stages uncounted: reported in flight, not lost.
	expectWindowed(t, tr, r, p.A4, p.B4, map[uint32]string{p.InodeA: "local-out", p.InodeB: "local-in"}, true)
}

func TestLiveFlowsThroughARouter(t *testing.T) {
	testnet.RequirePrivileged(t)
	forEachLive(t, func(t *testing.T, tc liveCase, stages stage.Set) {
		c := testnet.NewChain(t)
		src, dst := c.A4, c.B4
		if tc.v6 {
			src, dst = c.A6, c.B6
		}
		l := newLiveFlow(t)
		tc.gen(t, l, func(fn func() error) error { return c.Do(testnet.NodeA, fn) },
			func(fn func() error) error { return c.Do(testnet.NodeB, fn) }, src, dst)
		tr, _, r := traceLive(t, l, Config{Stages: stages})
		expectWhole(t, tr, r, src, dst, map[uint32]string{c.InodeA: "local-out", c.InodeR: "forward", c.InodeB: "local-in"})
	})
}
