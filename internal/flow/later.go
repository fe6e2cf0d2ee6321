package flow

import (
	"errors"
	"fmt"
	"time"

	"github.com/cilium/ebpf"

	"github.com/dropspot/dropspot/internal/bpf"
)

// ReadLater reads again, after wait, the flows whose stages had not all
// counted the same packets: a packet that was between two stages at the
// first read has passed on by then, a lost one has not, so a decrease
// that shrinks in between was packets in flight (the report leaves them
// out of its losses). Healthy flows are read once; flows gone meanwhile
// (evicted) are left out.
func ReadLater(m *ebpf.Map, flows map[Key]*Counts, wait time.Duration) (map[Key]*Counts, error) {
	var uneven []Key
	for k, c := range flows {
		if !c.even() {
			uneven = append(uneven, k)
		}
	}
	later := make(map[Key]*Counts, len(uneven))
	if len(uneven) == 0 {
		return later, nil
	}
	time.Sleep(wait)
	for _, k := range uneven {
		var v bpf.DropspotFlowCounts
		err := m.Lookup(k.BPF(), &v)
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read flow table again: %w", err)
		}
		later[k] = &Counts{Packets: v.Packets, Bytes: v.Bytes}
	}
	return later, nil
}

// even says whether every stage that counted a packet counted as many.
func (c *Counts) even() bool {
	var n uint64
	for _, p := range c.Packets {
		if p == 0 {
			continue
		}
		if n != 0 && p != n {
			return false
		}
		n = p
	}
	return true
}
