package report

import (
	"fmt"

	"github.com/dropspot/dropspot/internal/flow"
)

// TCP is a TCP flow direction's loss as TCP itself shows it, matched to
// this host's drops (bpf/lib/tcp_loss.h). On the sender's record: its
// retransmitted segments (counted as TcpRetransSegs counts them), each
// in one of DroppedHere, Beyond, Unknown, so that they add up to
// Retransmitted. On the receiver's record: RedeliveredAfterDropHere.
type TCP struct {
	Retransmitted uint64 `json:"retransmitted"`
	// DroppedHere: the previous copy was dropped on this host, in the
	// observed scope (where: DroppedAt).
	DroppedHere uint64 `json:"dropped_here"`
	// Beyond: the previous copy left the sender and no observed drop
	// explains it: lost beyond the observed host (or scope), or a
	// spurious retransmission.
	Beyond uint64 `json:"beyond"`
	// Unknown: the previous copy was not seen (sent before dropspot
	// started, or forgotten): counted, never guessed.
	Unknown uint64 `json:"unknown"`
	// RedeliveredAfterDropHere: segments that arrived again after this
	// host had dropped an earlier copy.
	RedeliveredAfterDropHere uint64 `json:"redelivered_after_drop_here"`
	// DroppedAt is where the drops behind DroppedHere were: the last
	// one matched, and whether others were elsewhere.
	DroppedAt *TCPDropPlace `json:"dropped_at,omitempty"`
}

// TCPDropPlace is where on this host a connection's segments were dropped.
type TCPDropPlace struct {
	Netns    uint32 `json:"netns"`
	Stage    string `json:"stage"`
	Reason   string `json:"reason"`
	Location string `json:"location"`
	// Mixed: some of the drops were elsewhere (another namespace, stage,
	// reason or location); this place is the last one's.
	Mixed bool `json:"mixed,omitempty"`
}

// tcpLosses names the snapshot's TCP loss entries.
func (n Namer) tcpLosses(loss map[flow.Key]flow.TCPLoss) map[flow.Key]*TCP {
	out := make(map[flow.Key]*TCP, len(loss))
	for k, l := range loss {
		t := &TCP{Retransmitted: l.Retransmitted, DroppedHere: l.DroppedHere, Beyond: l.Beyond, Unknown: l.Unknown,
			RedeliveredAfterDropHere: l.Redelivered}
		if l.DropAt != nil {
			d := n.Name(*l.DropAt)
			t.DroppedAt = &TCPDropPlace{Netns: l.DropAt.Flow.Netns, Stage: d.Stage, Reason: d.Reason,
				Location: d.Location, Mixed: l.DropsMixed}
		}
		out[k] = t
	}
	return out
}

// appendTCPText appends the verdict lines of a flow's TCP loss:
//
//	tcp: 54 segments retransmitted: 54 after drops on this host (netns 4026532321, ip.forward NETFILTER_DROP), 0 beyond this host, 0 unknown
func appendTCPText(b []byte, t *TCP) []byte {
	if t.Retransmitted > 0 {
		b = fmt.Appendf(b, "  tcp: %d segments retransmitted: %d after drops on this host", t.Retransmitted, t.DroppedHere)
		if at := t.DroppedAt; at != nil {
			b = fmt.Appendf(b, " (netns %d, %s %s", at.Netns, at.Stage, at.Reason)
			if at.Mixed {
				b = append(b, ", and elsewhere"...)
			}
			b = append(b, ')')
		}
		b = fmt.Appendf(b, ", %d beyond this host, %d unknown\n", t.Beyond, t.Unknown)
	}
	if t.RedeliveredAfterDropHere > 0 {
		b = fmt.Appendf(b, "  tcp: %d segments arrived again after drops on this host\n", t.RedeliveredAfterDropHere)
	}
	return b
}
