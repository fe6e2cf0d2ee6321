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
	out := map[Key]BridgePorts{}
	err := each(m, "bridged flows", func(key bpf.DropspotFlowKey, ports bpf.DropspotBridgePorts) {
		out[FromBPF(key)] = BridgePorts{In: ports.In, Out: ports.Out}
	})
	return out, err
}

// each calls fn with every entry of a small map, one key at a time.
func each[K, V any](m *ebpf.Map, what string, fn func(K, V)) error {
	var (
		key   K
		value V
	)
	it := m.Iterate()
	for it.Next(&key, &value) {
		fn(key, value)
	}
	if err := it.Err(); err != nil && !errors.Is(err, ebpf.ErrIterationAborted) {
		return fmt.Errorf("read %s: %w", what, err)
	}
	return nil
}
