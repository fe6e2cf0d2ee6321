package report

import (
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/dropspot/dropspot/internal/stage"
)

// WriteJSON writes the report as one indented JSON document.
func WriteJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// TextOptions shape the text report.
type TextOptions struct {
	MaxFlows  int  // 0 = all
	LossyOnly bool // leave out flow directions that lost nothing
}

// WriteText writes the human report: hooks, loss counters, then one block
// per flow direction with its stages in path order.
func WriteText(w io.Writer, r *Report, opt TextOptions) error {
	var b strings.Builder
	fmt.Fprintf(&b, "dropspot: %d flow directions in %.1fs, %d of %d stages hooked, netfilter hooks in %d namespaces\n",
		len(r.Flows), r.DurationSeconds, len(r.Totals), int(stage.Count), r.NetnsHooked)
	o := r.Overflow
	fmt.Fprintf(&b, "overflow: evicted_flows=%d unparsed=%d flow_create_failed=%d tx_done_unmatched=%d drops_unrecorded=%d drops_evicted=%d events_lost=%d\n",
		o.EvictedFlows, o.Unparsed, o.FlowCreateFailed, o.TxDoneUnmatched, o.DropsUnrecorded, o.DropsEvicted, o.EventsLost)
	for _, u := range o.UnparsedDrops {
		fmt.Fprintf(&b, "  drop of %s packets ✗ %s at %s: %d\n", strings.ReplaceAll(u.Kind, "_", "-"), u.Reason, u.Location, u.Count)
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
		b.WriteString("\n")
		writeFlow(&b, &shown[i])
	}
	if len(shown) < len(r.Flows) {
		fmt.Fprintf(&b, "\n... %d more flow directions not shown\n", len(r.Flows)-len(shown))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeFlow(b *strings.Builder, f *Flow) {
	src := netip.AddrPortFrom(f.key.Src, f.Sport)
	dst := netip.AddrPortFrom(f.key.Dst, f.Dport)
	fmt.Fprintf(b, "conn %d  %s %s -> %s  netns %d  (%s)\n", f.Conn, f.Proto, src, dst, f.Netns, f.Path)
	var parts []string
	for _, s := range f.path {
		parts = append(parts, fmt.Sprintf("%s %d", s, f.counts.Packets[s]))
	}
	if len(parts) > 0 {
		fmt.Fprintf(b, "  %s\n", strings.Join(parts, " → "))
	}
	for _, l := range f.Losses {
		if l.To != "" {
			fmt.Fprintf(b, "  lost between %s and %s: %d", l.From, l.To, l.Packets)
			if l.Unexplained > 0 {
				fmt.Fprintf(b, " (%d without a kernel drop: still queued, consumed, or seen by an unhooked path)", l.Unexplained)
			}
			b.WriteString("\n")
		}
		for _, d := range l.Drops {
			writeDrop(b, d)
		}
	}
}

func writeDrop(b *strings.Builder, d Drop) {
	reason := d.Reason
	if d.KernelReason != "" {
		reason += " (kernel: " + d.KernelReason + ")"
	}
	fmt.Fprintf(b, "  %s ✗ %s at %s: %d\n", d.Stage, reason, d.Location, d.Count)
	if d.Explanation != "" {
		fmt.Fprintf(b, "      %s\n", d.Explanation)
	}
	if d.Netfilter != "" {
		fmt.Fprintf(b, "      netfilter hook: %s\n", d.Netfilter)
	}
}
