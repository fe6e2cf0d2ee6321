package flow

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"

	"github.com/dropspot/dropspot/internal/bpf"
)

// BridgePorts are the ports of a Linux bridge a flow direction was seen
// to enter and leave by (ifindexes in the flow's namespace): the bridge
// forwarded it at layer 2, and no IP stage counted it there.
type BridgePorts struct {
	In, Out uint32
}

// readBridged reads the bridged flows. The map holds only flows a bridge
// forwarded, so one key at a time is fast enough.
func readBridged(m *ebpf.Map) (map[Key]BridgePorts, error) {
	var (
		key   bpf.DropspotFlowKey
		ports bpf.DropspotBridgePorts
		out   = map[Key]BridgePorts{}
	)
	it := m.Iterate()
	for it.Next(&key, &ports) {
		out[FromBPF(key)] = BridgePorts{In: ports.In, Out: ports.Out}
	}
	if err := it.Err(); err != nil && !errors.Is(err, ebpf.ErrIterationAborted) {
		return nil, fmt.Errorf("read bridged flows: %w", err)
	}
	return out, nil
}
