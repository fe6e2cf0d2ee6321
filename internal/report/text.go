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
	MaxFlows  int  // 0 = all
	LossyOnly bool // leave out flow directions that lost nothing
}

// WriteText writes the human report: hooks, loss counters, then one block
// per flow direction with its stages in path order. It writes as it goes,
// one flow's block at a time.
func WriteText(w io.Writer, r *Report, opt TextOptions) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	fmt.Fprintf(bw, "dropspot: %d flow directions in %.1fs, %d of %d stages hooked, netfilter hooks in %d namespaces\n",
		len(r.Flows), r.DurationSeconds, len(r.Totals), int(stage.Count), r.NetnsHooked)
	o := r.Overflow
	fmt.Fprintf(bw, "overflow: evicted_flows=%d unparsed=%d flow_create_failed=%d tx_done_unmatched=%d drops_unrecorded=%d drops_evicted=%d events_lost=%d events_throttled=%d"+
		" in_flight=%d in_flight_at_start=%d netns_unhooked=%d drops_outside_window=%d netns_news_lost=%d\n",
		o.EvictedFlows, o.Unparsed, o.FlowCreateFailed, o.TxDoneUnmatched, o.DropsUnrecorded, o.DropsEvicted, o.EventsLost, o.EventsThrottled,
		o.InFlight, o.InFlightAtStart, o.NetnsUnhooked, o.DropsOutsideWindow, o.NetnsNewsLost)
	for _, u := range o.UnparsedDrops {
		bw.Write(appendUnparsedText(bw.AvailableBuffer(), u))
	}
	shown := r.Flows
	if opt.LossyOnly {
		// Flows are sorted by loss: the lossy ones come first.
		n := 0
		for n < len(shown) && shown[n].Lost != nil {
			n++
		}
		shown = shown[:n]
	}
	if opt.MaxFlows > 0 && len(shown) > opt.MaxFlows {
		shown = shown[:opt.MaxFlows]
	}
	for i := range shown {
		// Appended in place in the writer's buffer; a failed write is
		// kept, and returned by Flush.
		bw.Write(appendFlowText(append(bw.AvailableBuffer(), '\n'), &shown[i]))
	}
	if len(shown) < len(r.Flows) {
		fmt.Fprintf(bw, "\n... %d more flow directions not shown\n", len(r.Flows)-len(shown))
	}
	return bw.Flush()
}

// appendFlowText appends a flow's block: appends instead of fmt for the
// lines every flow has.
func appendFlowText(b []byte, f *Flow) []byte {
	b = append(b, "conn "...)
	b = strconv.AppendInt(b, int64(f.Conn), 10)
	b = append(b, "  "...)
	b = append(b, f.Proto...)
	b = append(b, ' ')
	b = netip.AddrPortFrom(f.key.Src, f.Sport).AppendTo(b)
	b = append(b, " -> "...)
	b = netip.AddrPortFrom(f.key.Dst, f.Dport).AppendTo(b)
	b = append(b, "  netns "...)
	b = strconv.AppendUint(b, uint64(f.Netns), 10)
	b = append(b, "  ("...)
	b = append(b, f.Path...)
	if f.Bridge != nil {
		b = appendBridgeText(b, f.Bridge)
	}
	b = append(b, ")\n"...)
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
	if len(f.path) > 0 {
		b = append(b, '\n')
	}
	for _, l := range f.Losses {
		if l.To != "" {
			b = fmt.Appendf(b, "  lost between %s and %s: %d", l.From, l.To, l.Packets)
			if l.Unexplained > 0 {
				b = fmt.Appendf(b, " (%d without a kernel drop: still queued, consumed, or seen by an unhooked path)", l.Unexplained)
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
	return b
}

// appendUnparsedText appends the line of drops of packets in no flow.
func appendUnparsedText(b []byte, u UnparsedDrop) []byte {
	return fmt.Appendf(b, "  drop of %s packets ✗ %s at %s: %d\n", strings.ReplaceAll(u.Kind, "_", "-"), u.Reason, u.Location, u.Count)
}

// appendDropText appends a drop's lines, marked as a loss (✗) or benign.
func appendDropText(b []byte, d Drop, mark string) []byte {
	reason := d.Reason
	if d.KernelReason != "" {
		reason += " (kernel: " + d.KernelReason + ")"
	}
	b = fmt.Appendf(b, "  %s %s %s at %s: %d\n", d.Stage, mark, reason, d.Location, d.Count)
	if d.Explanation != "" {
		b = fmt.Appendf(b, "      %s\n", d.Explanation)
	}
	if d.Netfilter != "" {
		b = fmt.Appendf(b, "      netfilter hook: %s\n", d.Netfilter)
	}
	return b
}
