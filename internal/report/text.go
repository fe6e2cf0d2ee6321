package report

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"

	"github.com/dropspot/dropspot/internal/stage"
)

// TextOptions shape the text report.
type TextOptions struct {
	// Keep picks the flow directions to show (nil: all).
	Keep func(*Flow) bool
	// Group shows flow directions that differ only in one port and fared
	// alike as one entry (groupAlike).
	Group bool
}

// WriteText writes the human report: hooks, loss counters, then one block
// per flow direction with its stages in path order. It writes as it goes,
// one flow's block at a time.
func WriteText(w io.Writer, r *Report, opt TextOptions) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	fmt.Fprintf(bw, "dropspot: %d flow directions in %.1fs, %d of %d stages hooked, netfilter hooks in %d namespaces\n",
		len(r.Flows), r.DurationSeconds, len(r.Totals), int(stage.Count), r.NetnsHooked)
	if r.Stages != "" {
		fmt.Fprintf(bw, "stages chosen: %s\n", r.Stages)
	}
	o := r.Overflow
	fmt.Fprintf(bw, "overflow: evicted_flows=%d unparsed=%d flow_create_failed=%d tx_done_unmatched=%d drops_unrecorded=%d drops_evicted=%d events_lost=%d events_throttled=%d"+
		" in_flight=%d in_flight_at_start=%d netns_unhooked=%d drops_outside_window=%d netns_news_lost=%d nat_split=%d"+
		" tcp_drops_unrecorded=%d tcp_drops_evicted=%d tcp_loss_unrecorded=%d tcp_loss_evicted=%d drop_runs_missed=%d retransmit_runs_missed=%d\n",
		o.EvictedFlows, o.Unparsed, o.FlowCreateFailed, o.TxDoneUnmatched, o.DropsUnrecorded, o.DropsEvicted, o.EventsLost, o.EventsThrottled,
		o.InFlight, o.InFlightAtStart, o.NetnsUnhooked, o.DropsOutsideWindow, o.NetnsNewsLost, o.NATSplit,
		o.TCPDropsUnrecorded, o.TCPDropsEvicted, o.TCPLossUnrecorded, o.TCPLossEvicted, o.DropRunsMissed, o.RetransmitRunsMissed)
	if missed := r.stageRunsMissed(); missed != "" {
		fmt.Fprintf(bw, "runs missed (the kernel skipped a stage's program already running on that CPU; those packets are not counted there): %s\n", missed)
	}
	for _, u := range o.UnparsedDrops {
		bw.Write(appendUnparsedText(bw.AvailableBuffer(), u))
	}
	shown := 0
	keep := func(f *Flow) bool { return !f.empty() && (opt.Keep == nil || opt.Keep(f)) }
	if opt.Group {
		for _, g := range groupAlike(r.Flows, keep) {
			if g.n == 1 {
				bw.Write(appendFlowText(append(bw.AvailableBuffer(), '\n'), r, &g.Flow))
			} else {
				bw.Write(appendFlowBody(fmt.Appendf(bw.AvailableBuffer(), "\n%d connections", g.n), r, &g.Flow, g.any))
			}
			shown += g.n
		}
	} else {
		for i := range r.Flows {
			if keep(&r.Flows[i]) {
				// Appended in place in the writer's buffer; a failed
				// write is kept, and returned by Flush.
				bw.Write(appendFlowText(append(bw.AvailableBuffer(), '\n'), r, &r.Flows[i]))
				shown++
			}
		}
	}
	if shown < len(r.Flows) {
		fmt.Fprintf(bw, "\n... %d more flow directions not shown\n", len(r.Flows)-shown)
	}
	return bw.Flush()
}

// appendFlowText appends a flow's block: appends instead of fmt for the
// lines every flow has. r is the report the flow is in.
func appendFlowText(b []byte, r *Report, f *Flow) []byte {
	b = append(b, "conn "...)
	b = strconv.AppendInt(b, int64(f.Conn), 10)
	return appendFlowBody(b, r, f, anyPort{})
}

// appendFlowBody appends a flow's block after its first words: the rest
// of its first line, the funnel (unless no stage counted a packet), the
// losses with their drops, the benign frees. The ports any names are
// shown as "*".
func appendFlowBody(b []byte, r *Report, f *Flow, any anyPort) []byte {
	b = append(b, "  "...)
	b = append(b, f.Proto...)
	b = append(b, ' ')
	b = appendEnds(b, f, any)
	b = append(b, "  netns "...)
	b = strconv.AppendUint(b, uint64(f.Netns), 10)
	b = append(b, "  ("...)
	b = append(b, f.Path...)
	if f.Bridge != nil {
		b = appendBridgeText(b, f.Bridge)
	}
	b = append(b, ')')
	if f.NAT != nil {
		b = appendNATText(b, f)
	}
	b = append(b, '\n')
	if f.counted() {
		for i, s := range f.path {
			if i == 0 {
				b = append(b, "  "...)
			} else {
				b = append(b, funnelSep...)
			}
			b = append(b, s.String()...)
			b = append(b, ' ')
			b = strconv.AppendUint(b, f.counts.Packets[s], 10)
		}
		b = append(b, '\n')
	}
	for _, l := range f.Losses {
		if l.To != "" {
			b = fmt.Appendf(b, "  lost between %s and %s: %d", l.From, l.To, l.Packets)
			if l.Unexplained > 0 {
				b = fmt.Appendf(b, " (%d without a kernel drop: still queued, consumed, or seen by an unhooked path", l.Unexplained)
				// Host-wide, not this flow's: a packet whose run was
				// skipped is short at that stage, whichever flow it was.
				if missed := r.Totals[l.To].RunsMissed; missed > 0 {
					b = fmt.Appendf(b, "; or among the %d runs the kernel skipped at %s, any flow's", missed, l.To)
				}
				b = append(b, ')')
			}
			b = append(b, '\n')
		}
		for _, d := range l.Drops {
			b = appendDropText(b, d, "✗")
		}
	}
	for _, d := range f.Benign {
		b = appendDropText(b, d, "○ benign")
	}
	if f.TCP != nil {
		b = appendTCPText(b, f.TCP)
	}
	return b
}

// counted tells whether a stage of the flow's path counted a packet: a
// flow known only from its drops (dropped before the first stage) has no
// funnel worth showing.
func (f *Flow) counted() bool {
	for _, s := range f.path {
		if f.counts.Packets[s] > 0 {
			return true
		}
	}
	return false
}

// empty tells whether the flow has nothing to show: no packet at any
// stage of its path, no drop, no benign free, no TCP loss.
func (f *Flow) empty() bool {
	return !f.counted() && len(f.Drops) == 0 && len(f.Benign) == 0 && f.TCP == nil
}

// anyPort says which ports of a group of flows vary: shown as "*".
type anyPort struct{ src, dst bool }

// appendEnds appends "src:sport -> dst:dport"; for ICMP the messages' name
// and the addresses, and an echo's identifier ("echo-request 198.18.0.1 ->
// 198.18.0.2 id 7"): ports they have none.
func appendEnds(b []byte, f *Flow, any anyPort) []byte {
	if f.ICMP == "" {
		b = appendEnd(b, f.key.Src, f.Sport, any.src)
		b = append(b, " -> "...)
		return appendEnd(b, f.key.Dst, f.Dport, any.dst)
	}
	b = append(b, f.ICMP...)
	b = append(b, ' ')
	b = f.key.Src.AppendTo(b)
	b = append(b, " -> "...)
	b = f.key.Dst.AppendTo(b)
	if strings.HasPrefix(f.ICMP, "echo-") {
		b = append(b, " id "...)
		b = strconv.AppendUint(b, uint64(f.Sport), 10)
	}
	return b
}

// appendEnd appends "addr:port", or "addr:*".
func appendEnd(b []byte, a netip.Addr, port uint16, any bool) []byte {
	if !any {
		return netip.AddrPortFrom(a, port).AppendTo(b)
	}
	b = netip.AddrPortFrom(a, 0).AppendTo(b) // ends in ":0"
	return append(b[:len(b)-1], '*')
}

// appendUnparsedText appends the line of drops of packets in no flow.
func appendUnparsedText(b []byte, u UnparsedDrop) []byte {
	b = fmt.Appendf(b, "  drop of %s packets ✗ %s at %s: %d\n", strings.ReplaceAll(u.Kind, "_", "-"), u.Reason, u.Location, u.Count)
	return appendExplanation(b, u.Explanation)
}

// appendExplanation appends a drop's explanation line, if it has one.
func appendExplanation(b []byte, why string) []byte {
	if why == "" {
		return b
	}
	return fmt.Appendf(b, "      %s\n", why)
}

// appendDropText appends a drop's lines, marked as a loss (✗) or benign.
func appendDropText(b []byte, d Drop, mark string) []byte {
	reason := d.Reason
	if d.KernelReason != "" {
		reason += " (kernel: " + d.KernelReason + ")"
	}
	b = fmt.Appendf(b, "  %s %s %s at %s: %d\n", d.Stage, mark, reason, d.Location, d.Count)
	b = appendExplanation(b, d.Explanation)
	if d.Netfilter != "" {
		b = fmt.Appendf(b, "      netfilter hook: %s\n", d.Netfilter)
	}
	return b
}

// stageRunsMissed lists the stages whose hook missed runs, in stage
// order ("ip.postrouting 3, tx.queue 1"), or "".
func (r *Report) stageRunsMissed() string {
	var parts []string
	for s := range stage.Count {
		if t := r.Totals[s.String()]; t.RunsMissed > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", s, t.RunsMissed))
		}
	}
	return strings.Join(parts, ", ")
}
