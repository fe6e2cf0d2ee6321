package report

import (
	"strings"

	"github.com/dropspot/dropspot/internal/dropreason"
	"github.com/dropspot/dropspot/internal/flow"
	"github.com/dropspot/dropspot/internal/stage"
)

// benignKind is the benign kind of a drop, if any: the table's entry for
// its reason and function, when the drop carries the proof the entry asks
// for itself.
func benignKind(d Drop) (dropreason.Benign, bool) {
	fn, _, _ := strings.Cut(d.Location, "+")
	kind, ok := dropreason.BenignFree(d.Reason, fn)
	if kind.Proof == dropreason.NoPayload && !d.NoPayload {
		return dropreason.Benign{}, false
	}
	return kind, ok
}

// BenignAlone tells whether one dropped packet is a benign free from what
// it carries alone (event streams): with its explanation. Kinds whose
// proof is in the flow's counts (RawCopy) are not.
func BenignAlone(d Drop) (string, bool) {
	kind, ok := benignKind(d)
	if !ok || kind.Proof == dropreason.RawCopy {
		return "", false
	}
	return kind.Explanation, true
}

// splitBenign takes the benign frees (dropreason.BenignFree) out of a
// flow direction's drops. A drop benign only in part (RawCopy) is split
// in two entries of the same reason, stage and location.
func splitBenign(c *flow.Counts, drops []Drop) (lost, benign []Drop) {
	kinds := make([]dropreason.Benign, len(drops))
	isBenign := make([]bool, len(drops))
	var rawCopyDrops uint64
	for i, d := range drops {
		kinds[i], isBenign[i] = benignKind(d)
		if isBenign[i] && kinds[i].Proof == dropreason.RawCopy {
			rawCopyDrops += d.Count
		}
	}
	copies := rawCopies(c, rawCopyDrops)
	lost = make([]Drop, 0, len(drops))
	for i, d := range drops {
		n := d.Count
		if !isBenign[i] {
			n = 0
		} else if kinds[i].Proof == dropreason.RawCopy {
			n = min(n, copies)
			copies -= n
		}
		if n > 0 {
			b := d
			b.Count, b.Explanation, b.Netfilter = n, kinds[i].Explanation, ""
			benign = append(benign, b)
		}
		if n < d.Count {
			d.Count -= n
			lost = append(lost, d)
		}
	}
	if benign == nil {
		benign = []Drop{}
	}
	return lost, benign
}

// rawCopies is how many of a flow direction's echo replies freed in
// ping_rcv (freed: of them) a raw socket had received a copy of. A raw
// socket's copy passes its filter: sock.rcv. So does each reply a ping
// socket took — one per reply l4.rcv saw and ping_rcv did not free;
// every other sock.rcv count is a raw socket's copy. Exact for a raw
// socket's ping (copies = replies), a ping socket's (no copies), replies
// nobody asked for (none) and late replies after a raw ping ended (the
// earlier ones' copies only). Too large only where several raw ICMP
// sockets copied replies, or copied a ping socket's replies, and all of
// them were gone when replies that nobody took came later: per-packet
// proof would need BPF. Without sock.rcv hooked there is no proof: 0.
func rawCopies(c *flow.Counts, freed uint64) uint64 {
	sockRcv, l4Rcv := c.Packets[stage.SockRcv], c.Packets[stage.L4Rcv]
	taken := l4Rcv - min(l4Rcv, freed)
	return sockRcv - min(sockRcv, taken)
}
