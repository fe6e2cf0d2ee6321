package demo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"

	"github.com/dropspot/dropspot/internal/faults"
	"github.com/dropspot/dropspot/internal/filter"
	"github.com/dropspot/dropspot/internal/flow"
	"github.com/dropspot/dropspot/internal/report"
	"github.com/dropspot/dropspot/internal/testnet"
	"github.com/dropspot/dropspot/internal/tracer"
)

// The TCP loss cases: a transfer from A to B through a router namespace R
// whose firewall drops every tcpLossEvery-th data segment, traced once with
// R observed (the retransmissions are dropped here, in R) and once with
// only A observed (they are lost beyond the observed scope).
const (
	tcpLossBytes = 2 << 20
	tcpLossEvery = 40
	tcpLossPort  = 5201
)

// runTCPLoss runs both cases in a chain of its own, writes what dropspot
// said and the checks, and returns how many checks failed.
func runTCPLoss(ctx context.Context, w io.Writer, names report.Namer, log *slog.Logger) (failed int, err error) {
	c, err := testnet.CreateChain()
	if err != nil {
		return 0, err
	}
	defer func() { err = errors.Join(err, c.Close()) }()
	// Offloads off: the firewall then counts segments, as TCP does. Large
	// receive buffers: the firewall's drops are then the only ones (a
	// receiver falling behind on a busy machine drops segments itself).
	if err := c.SetOffloads(false); err != nil {
		return 0, err
	}
	if err := c.SetLargeTCPReceiveBuffers(); err != nil {
		return 0, err
	}
	fw, err := faults.DropForwardedEvery(faults.Named(c.NameR), faults.TCP, tcpLossPort, tcpLossEvery)
	if err != nil {
		return 0, err
	}
	defer func() { err = errors.Join(err, fw.Close()) }()
	fmt.Fprintf(w, "\nTCP loss: %d KiB from %s through router namespace %s (its firewall drops every %dth data segment) to %s\n",
		tcpLossBytes>>10, c.NameA, c.NameR, tcpLossEvery, c.NameB)
	for _, scoped := range []bool{false, true} {
		if ctx.Err() != nil {
			return failed, ctx.Err()
		}
		n, err := tcpLossCase(ctx, w, c, fw, scoped, names, log)
		if err != nil {
			return failed, err
		}
		failed += n
	}
	return failed, nil
}

// tcpCheck is one verdict count and its ground truth.
type tcpCheck struct {
	what         string
	found, truth uint64
	truthName    string
	// slack: found may be this much below the truth. A drop of a copy
	// that a spurious retransmission made redundant is followed by no
	// retransmission; that spurious one is counted beyond (README,
	// "TCP loss"), so beyond bounds the shortfall.
	slack uint64
}

// holds tells whether the verdict agrees with its ground truth.
func (ch tcpCheck) holds() bool {
	if ch.truth == 0 {
		return false
	}
	return ch.found <= ch.truth && ch.truth-ch.found <= ch.slack
}

// tcpLossTruth reads the ground truth's counters: the client's nstat and
// the firewall rule's drops.
func tcpLossTruth(c *testnet.Chain, fw *faults.PortFirewall) (map[string]uint64, uint64, error) {
	nstat, err := c.Nstat(testnet.NodeA)
	if err != nil {
		return nil, 0, err
	}
	dropped, err := fw.Dropped()
	return nstat, dropped, err
}

// tcpLossCase traces one transfer and checks the sender's verdict against
// the client's TcpRetransSegs and the firewall's counter before showing it.
func tcpLossCase(ctx context.Context, w io.Writer, c *testnet.Chain, fw *faults.PortFirewall, scoped bool,
	names report.Namer, log *slog.Logger) (int, error) {
	prog, err := filter.Compile(fmt.Sprintf("tcp and (net %s or net %s)",
		netip.PrefixFrom(c.A4, 24).Masked(), netip.PrefixFrom(c.B4, 24).Masked()))
	if err != nil {
		return 0, err
	}
	cfg := tracer.Config{Filter: flow.Filter{Program: prog}, Log: log, Symbols: names.Symbols}
	title := "router observed: retransmissions follow drops on this host"
	if scoped {
		cfg.Filter.Netns = c.InodeA
		title = "only the client observed (--netns): the router is beyond the scope"
	}
	t, err := tracer.Start(cfg)
	if err != nil {
		return 0, err
	}
	defer t.Close()
	before, droppedBefore, err := tcpLossTruth(c, fw)
	if err != nil {
		return 0, err
	}
	f, err := c.TCP(tcpLossPort, tcpLossBytes, false)
	if err != nil {
		return 0, err
	}
	after, droppedAfter, err := tcpLossTruth(c, fw)
	if err != nil {
		return 0, err
	}
	if err := t.Drain(ctx); err != nil {
		return 0, err
	}
	snap, err := t.Snapshot()
	if err != nil {
		return 0, err
	}
	r := report.Build(snap, t.Plan.Hooks, names)
	sender := func(fl *report.Flow) bool {
		return fl.Netns == c.InodeA && fl.Sport == f.Sport && fl.Dport == f.Dport && fl.TCP != nil
	}
	var got report.TCP
	for i := range r.Flows {
		if sender(&r.Flows[i]) {
			got = *r.Flows[i].TCP
		}
	}
	retrans := after["Tcp.RetransSegs"] - before["Tcp.RetransSegs"]
	// A run of the retransmission hook the kernel skipped (its program
	// was already running on that CPU) is a retransmission not seen, and
	// counted as such: the count may fall short by those.
	missed := r.Overflow.RetransmitRunsMissed
	truthName := "TcpRetransSegs of " + c.NameA
	if missed > 0 {
		truthName += fmt.Sprintf("; the hook missed %d runs", missed)
	}
	checks := []tcpCheck{{"retransmitted", got.Retransmitted, retrans, truthName, missed}}
	if scoped {
		checks = append(checks, tcpCheck{"beyond", got.Beyond, retrans, truthName, missed})
	} else {
		checks = append(checks, tcpCheck{"dropped here", got.DroppedHere, droppedAfter - droppedBefore,
			"firewall counter, less drops of redundant copies (at most beyond)", got.Beyond})
		where := uint64(0)
		if got.DroppedAt != nil {
			where = uint64(got.DroppedAt.Netns)
		}
		checks = append(checks, tcpCheck{"dropped in namespace", where, uint64(c.InodeR), c.NameR + "'s inode", 0})
	}
	var text bytes.Buffer
	if err := report.WriteText(&text, r, report.TextOptions{Keep: sender}); err != nil {
		return 0, err
	}
	fmt.Fprintf(w, "\n%s\n", title)
	// The sender's block only: the report's header lines are the run's,
	// and the other flows are not shown.
	block := text.Bytes()
	if i := bytes.Index(block, []byte("\nconn ")); i >= 0 {
		block = block[i+1:]
	}
	if i := bytes.Index(block, []byte("\n\n... ")); i >= 0 {
		block = block[:i+1]
	}
	w.Write(block)
	failed := 0
	for _, ch := range checks {
		mark := "✓"
		if !ch.holds() {
			mark, failed = "✗", failed+1
		}
		fmt.Fprintf(w, "%s %-48s %-33s %5d   %5d (%s)\n", mark, "tcp "+ch.what, "", ch.found, ch.truth, ch.truthName)
	}
	return failed, nil
}
