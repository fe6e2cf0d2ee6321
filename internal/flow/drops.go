package flow

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"

	"github.com/dropspot/dropspot/internal/bpf"
	"github.com/dropspot/dropspot/internal/stage"
)

// DropKind says whether a dropped packet parsed into a flow.
type DropKind uint8

const (
	DropOfFlow      = DropKind(bpf.DropspotDropKindDROP_FLOW)
	DropNotIP       = DropKind(bpf.DropspotDropKindDROP_NOT_IP)
	DropMalformedIP = DropKind(bpf.DropspotDropKindDROP_MALFORMED)
)

// noStage is the BPF side's STAGE_NONE: dropped before any hooked stage
// saw the packet (or on another CPU than its last stage).
const noStage = 0xff

// Drop is how many packets of one flow direction one kernel location
// dropped for one reason, after one stage.
type Drop struct {
	Flow     Key // zero unless Kind is DropOfFlow
	Kind     DropKind
	Reason   uint32 // the running kernel's enum skb_drop_reason value; 0 = none given
	Stage    stage.Stage
	HasStage bool   // false: no hooked stage saw the packet before the drop
	Ifindex  uint32 // the packet's device when freed (in Flow.Netns), 0 if none
	Location uint64 // kernel address the packet was freed from
	Packets  uint64
	// NoPayload: a TCP segment that carried no data (a bare FIN, ACK or
	// RST).
	NoPayload bool
}

// DropFromBPF converts a drop key (as in the map and in events).
func DropFromBPF(k bpf.DropspotDropKey, packets uint64) Drop {
	d := Drop{Kind: DropKind(k.Kind), Reason: k.Reason, Ifindex: k.Ifindex, Location: k.Location, Packets: packets,
		NoPayload: k.Flags&uint8(bpf.DropspotDropFlagDROP_TCP_NO_PAYLOAD) != 0}
	if d.Kind == DropOfFlow {
		d.Flow = FromBPF(k.Flow)
	}
	if k.Stage != noStage {
		d.Stage, d.HasStage = stage.Stage(k.Stage), true
	}
	return d
}

func readDrops(m *ebpf.Map) ([]Drop, error) {
	var (
		key   bpf.DropspotDropKey
		count uint64
		out   []Drop
	)
	it := m.Iterate()
	for it.Next(&key, &count) {
		out = append(out, DropFromBPF(key, count))
	}
	if err := it.Err(); err != nil && !errors.Is(err, ebpf.ErrIterationAborted) {
		return nil, fmt.Errorf("read drops: %w", err)
	}
	return out, nil
}
