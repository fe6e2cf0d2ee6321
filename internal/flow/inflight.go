package flow

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"

	"github.com/dropspot/dropspot/internal/bpf"
	"github.com/dropspot/dropspot/internal/stage"
)

// InFlight is, per flow direction, the admitted packets still on their
// way when the counts were read, by the last stage each had passed. A
// decrease after that stage is then a packet in transit, not a loss.
type InFlight map[Key]*[stage.Count]uint64

// pathBatch is how many skb paths one BPF_MAP_LOOKUP_BATCH call reads.
const pathBatch = 4096

// ReadInFlight reads the per-skb path table (bpf/lib/window.h): every
// admitted path that moved in the current or the previous generation.
// Paths that ended without a drop (delivered, sent) are there too, at
// their path's last stage, where they explain no decrease.
func ReadInFlight(m *ebpf.Map, generation uint32) (InFlight, error) {
	out := InFlight{}
	var cursor ebpf.MapBatchCursor
	keys := make([]uint64, pathBatch)
	values := make([]bpf.DropspotSkbPath, pathBatch)
	for {
		n, err := m.BatchLookup(&cursor, keys, values, nil)
		for _, p := range values[:n] {
			if p.Admitted == 0 || generation-p.Generation > 1 || stage.Stage(p.LastStage) >= stage.Count {
				continue
			}
			k := FromBPF(p.Key)
			at := out[k]
			if at == nil {
				at = new([stage.Count]uint64)
				out[k] = at
			}
			at[p.LastStage] += uint64(p.Segs)
		}
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read packets in flight: %w", err)
		}
	}
}

// Merge combines two readings taken around one read of the counts: a
// packet seen at a stage in either was there while the counts were read.
func (a InFlight) Merge(b InFlight) InFlight {
	for k, bs := range b {
		as := a[k]
		if as == nil {
			a[k] = bs
			continue
		}
		for i := range as {
			as[i] = max(as[i], bs[i])
		}
	}
	return a
}
