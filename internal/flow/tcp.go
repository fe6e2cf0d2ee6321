package flow

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"

	"github.com/dropspot/dropspot/internal/bpf"
)

// TCPLoss is one flow direction's TCP loss (bpf/lib/tcp_loss.h). As the
// sender (the flow in the sender's namespace): its retransmitted segments,
// each put in one of DroppedHere, Beyond, Unknown. As the receiver (the
// flow in the receiver's namespace): Redelivered, segments that arrived
// after this host had dropped an earlier copy.
type TCPLoss struct {
	Retransmitted uint64
	DroppedHere   uint64 // the previous copy was dropped on this host, in scope
	Beyond        uint64 // the previous copy left the sender and no drop here explains it
	Unknown       uint64 // the previous copy was not seen (sent before the window, or forgotten)
	Redelivered   uint64
	// DropAt is the last drop here a retransmission followed (Packets is
	// DroppedHere); DropsMixed: not all of them were at that place.
	DropAt     *Drop
	DropsMixed bool
}

// readTCPLoss reads the per-flow TCP loss entries: only connections that
// retransmitted or received again, so one key at a time is fast enough.
func readTCPLoss(m *ebpf.Map) (map[Key]TCPLoss, error) {
	var (
		key bpf.DropspotFlowKey
		v   bpf.DropspotTcpLossCounts
		out = map[Key]TCPLoss{}
	)
	it := m.Iterate()
	for it.Next(&key, &v) {
		k := FromBPF(key)
		l := TCPLoss{Retransmitted: v.Retransmitted, DroppedHere: v.DroppedHere, Beyond: v.Beyond, Unknown: v.Unknown,
			Redelivered: v.Redelivered, DropsMixed: v.DropMixed != 0}
		if v.DroppedHere > 0 {
			at := k
			at.Netns = v.DropNetns
			d := DropFromBPF(bpf.DropspotDropKey{Flow: key, Reason: v.DropReason, Stage: v.DropStage,
				Location: v.DropLocation}, v.DroppedHere)
			d.Flow = at
			l.DropAt = &d
		}
		out[k] = l
	}
	if err := it.Err(); err != nil && !errors.Is(err, ebpf.ErrIterationAborted) {
		return nil, fmt.Errorf("read tcp loss: %w", err)
	}
	return out, nil
}

// countEntries counts a map's keys (the dropped-segment table, whose
// evictions are made - matched - present).
func countEntries(m *ebpf.Map) (uint64, error) {
	var n uint64
	it := m.Iterate()
	var key bpf.DropspotTcpSeg
	var v bpf.DropspotTcpDropped
	for it.Next(&key, &v) {
		n++
	}
	if err := it.Err(); err != nil && !errors.Is(err, ebpf.ErrIterationAborted) {
		return 0, fmt.Errorf("read dropped tcp segments: %w", err)
	}
	return n, nil
}
