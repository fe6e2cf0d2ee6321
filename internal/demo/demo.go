// Package demo is `dropspot demo`: it builds throwaway namespaces, breaks
// them in realistic ways (each fault with a ground truth of its own), traces
// them and shows that dropspot finds every fault at its stage with its
// reason. It needs nothing but root: netlink and small BPF programs.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"time"

	"github.com/dropspot/dropspot/internal/faults"
	"github.com/dropspot/dropspot/internal/filter"
	"github.com/dropspot/dropspot/internal/flow"
	"github.com/dropspot/dropspot/internal/report"
	"github.com/dropspot/dropspot/internal/testnet"
	"github.com/dropspot/dropspot/internal/tracer"
)

// Result is what the demo found for one fault.
type Result struct {
	Fault, Reason, Stage string
	Found, Truth         uint64
	TruthName            string
}

// OK says dropspot found exactly the ground truth, with the right reason
// and stage.
func (r Result) OK() bool { return r.Found == r.Truth && r.Truth > 0 }

// Run runs the whole demo and writes the report and the check list to w.
// It returns an error if any fault was not found as expected; everything it
// made is removed, on error and on ctx's end too.
func Run(ctx context.Context, w io.Writer, names report.Namer, log *slog.Logger) (err error) {
	pair, err := testnet.Create()
	if err != nil {
		return err
	}
	e := &env{pair: pair, a: faults.Named(pair.NameA), b: faults.Named(pair.NameB)}
	defer func() { err = errors.Join(err, e.close(), pair.Close()) }()

	for _, f := range scenario {
		if f.prepare == nil {
			continue
		}
		if err := f.prepare(e); err != nil {
			return fmt.Errorf("fault %q: %w", f.name, err)
		}
	}
	// Count only the demo's own addresses: the host's traffic is not the
	// demo's business.
	prog, err := filter.Compile(fmt.Sprintf("net %s or net %s",
		netip.PrefixFrom(pair.A4, 24).Masked(), netip.PrefixFrom(pair.A6, 64).Masked()))
	if err != nil {
		return err
	}
	t, err := tracer.Start(tracer.Config{Filter: flow.Filter{Program: prog}, Log: log, Symbols: names.Symbols})
	if err != nil {
		return err
	}
	defer t.Close()
	fmt.Fprintf(w, "dropspot demo: namespaces %s and %s, %d faults and %d healthy exchanges\n\n",
		pair.NameA, pair.NameB, len(scenario), len(healthyTraffic))

	start := time.Now()
	wheres := make([]where, len(scenario))
	for i, f := range scenario {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if wheres[i], err = f.run(e); err != nil {
			return fmt.Errorf("fault %q: %w", f.name, err)
		}
	}
	healthy := make([]testnet.Flow, len(healthyTraffic))
	for i, h := range healthyTraffic {
		if healthy[i], err = h.run(pair); err != nil {
			return fmt.Errorf("%s: %w", h.name, err)
		}
	}

	// Every fault has run: close the window so that what follows is the
	// final count of every admitted packet.
	if err := t.Drain(ctx); err != nil {
		return err
	}
	// Ground-truth counters can move a moment before the kernel's drop
	// tracepoint has run for the last packet: read until both agree, for
	// a second at most.
	var (
		r       *report.Report
		results []Result
		failed  int
	)
	for deadline := time.Now().Add(time.Second); ; time.Sleep(50 * time.Millisecond) {
		snap, err := t.Snapshot()
		if err != nil {
			return err
		}
		r = report.Build(snap, t.Plan.Hooks, names)
		if results, failed, err = checkAll(r, wheres); err != nil {
			return err
		}
		if failed == 0 && healthyLost(r, healthy) == 0 || time.Now().After(deadline) {
			break
		}
	}
	r.NetnsHooked = t.Plan.Namespaces()
	r.DurationSeconds = time.Since(start).Seconds()
	// What lost packets, and the healthy exchanges (nothing lost), each
	// fault's connections as one entry.
	shown := report.TextOptions{Group: true, Keep: func(f *report.Flow) bool { return f.Lost != nil || isHealthy(f, healthy) }}
	if err := report.WriteText(w, r, shown); err != nil {
		return err
	}

	fmt.Fprintf(w, "\nfault                                              found by dropspot                     ground truth\n")
	for _, res := range results {
		mark := "✓"
		if !res.OK() {
			mark = "✗"
		}
		fmt.Fprintf(w, "%s %-48s %-14s after %-12s %5d   %5d (%s)\n",
			mark, res.Fault, res.Reason, res.Stage, res.Found, res.Truth, res.TruthName)
	}
	for i, h := range healthyTraffic {
		lost := healthyLost(r, healthy[i:i+1])
		mark := "✓"
		if lost != 0 {
			mark, failed = "✗", failed+1
		}
		fmt.Fprintf(w, "%s %-48s %-33s %5d   %5d (expected)\n", mark, h.name, "lost", lost, 0)
	}
	tcpFailed, err := runTCPLoss(ctx, w, names, log)
	if err != nil {
		return fmt.Errorf("tcp loss: %w", err)
	}
	if failed += tcpFailed; failed > 0 {
		return fmt.Errorf("%d checks did not match their ground truth", failed)
	}
	return nil
}

// healthyTraffic is what must show no loss: a TCP connection, and ping
// over a raw socket, whose replies the kernel frees as NO_SOCKET after
// the raw socket got them — benign frees, not drops.
var healthyTraffic = []struct {
	name string
	run  func(*testnet.Pair) (testnet.Flow, error)
}{
	{"healthy tcp connection (1 MiB)", func(p *testnet.Pair) (testnet.Flow, error) { return testnet.TCP(p, testnet.A, 1<<20, false) }},
	{"healthy ping over a raw socket (50 echoes)", func(p *testnet.Pair) (testnet.Flow, error) { return testnet.PingRaw(p, testnet.A, 50, false) }},
}

// checkAll checks every fault of the scenario against the report.
func checkAll(r *report.Report, wheres []where) ([]Result, int, error) {
	var out []Result
	failed := 0
	for i, f := range scenario {
		res, err := check(r, f, wheres[i])
		if err != nil {
			return nil, 0, err
		}
		if !res.OK() {
			failed++
		}
		out = append(out, res)
	}
	return out, failed, nil
}

// check adds up the drops of the fault's reason and stage over the flows
// it names, and reads its ground truth.
func check(r *report.Report, f fault, wh where) (Result, error) {
	res := Result{Fault: f.name, Reason: f.reason, Stage: f.stage, TruthName: wh.what}
	truth, err := wh.truth()
	if err != nil {
		return res, fmt.Errorf("fault %q: ground truth: %w", f.name, err)
	}
	res.Truth = truth
	for _, fl := range r.Flows {
		if fl.Netns != wh.netns || fl.Proto != wh.proto || fl.Dport != wh.dport || wh.translated && fl.NAT == nil {
			continue
		}
		for _, d := range fl.Drops {
			if d.Reason == f.reason && d.Stage == f.stage {
				res.Found += d.Count
			}
		}
	}
	return res, nil
}

// healthyLost counts the losses (drops and unexplained decreases; benign
// frees are none) on the healthy flows, both directions, both namespaces.
func healthyLost(r *report.Report, healthy []testnet.Flow) uint64 {
	var n uint64
	for i := range r.Flows {
		if isHealthy(&r.Flows[i], healthy) {
			for _, l := range r.Flows[i].Losses {
				n += l.Packets
			}
		}
	}
	return n
}

// isHealthy tells whether a flow direction is one of the healthy
// exchanges', either way, in either namespace.
func isHealthy(fl *report.Flow, healthy []testnet.Flow) bool {
	for _, f := range healthy {
		if fl.Proto == f.Proto && (fl.Sport == f.Sport && fl.Dport == f.Dport || fl.Sport == f.Dport && fl.Dport == f.Sport) {
			return true
		}
	}
	return false
}
