package flow

import (
	"github.com/cilium/ebpf"

	"github.com/dropspot/dropspot/internal/bpf"
)

// NAT is how a flow direction was translated in its namespace: the flow's
// key is its connection as the originator sees it (conntrack's original
// tuple, reversed for replies), Tuple what its packets carry after the
// translation (replies: before it is undone).
type NAT struct {
	DNAT, SNAT bool
	Tuple      Key
}

// Kind names the translation: "dnat", "snat" or "dnat+snat".
func (n NAT) Kind() string {
	switch {
	case n.DNAT && n.SNAT:
		return "dnat+snat"
	case n.DNAT:
		return "dnat"
	default:
		return "snat"
	}
}

// readNAT reads the translated connections, per flow key. The map also
// holds the way back (translated tuple to key), which BPF uses and user
// space does not need.
func readNAT(m *ebpf.Map) (map[Key]NAT, error) {
	out := map[Key]NAT{}
	err := each(m, "translated connections", func(key bpf.DropspotFlowKey, v bpf.DropspotNatTuple) {
		if v.Wire != 0 {
			return
		}
		out[FromBPF(key)] = NAT{
			DNAT:  v.Kind&uint8(bpf.DropspotNatFlagNAT_DNAT) != 0,
			SNAT:  v.Kind&uint8(bpf.DropspotNatFlagNAT_SNAT) != 0,
			Tuple: FromBPF(v.Other),
		}
	})
	return out, err
}
