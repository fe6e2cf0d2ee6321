package report

import (
	"cmp"
	"encoding/binary"
	"net/netip"
	"slices"
	"strings"
	"sync"
)

func (f *Flow) lost() uint64 {
	if f.Lost == nil {
		return 0
	}
	return f.Lost.Packets
}

func (f *Flow) packets() uint64 {
	var n uint64
	for _, v := range f.counts.Packets {
		n = max(n, v)
	}
	return n
}

// rank is what ordering a flow takes, pointer free: sorting these records
// moves less than sorting the flows (250-byte values, log2(n) moves each),
// never misses the cache to reach a flow's key, and needs no GC write
// barriers.
type rank struct {
	lost, packets  uint64
	src, dst       [2]uint64 // address bits, high half first
	netns          uint32
	sport, dport   uint16
	proto          uint8
	srcLen, dstLen uint8 // Addr.BitLen / 8: IPv4 before IPv6
	i              int32 // the flow's index in flowSet.flows
}

func newRank(f *Flow, i int) rank {
	k := f.key
	return rank{lost: f.lost(), packets: f.packets(), src: addrBits(k.Src), dst: addrBits(k.Dst),
		netns: k.Netns, sport: k.Sport, dport: k.Dport, proto: k.Proto,
		srcLen: uint8(k.Src.BitLen() / 8), dstLen: uint8(k.Dst.BitLen() / 8), i: int32(i)}
}

func addrBits(a netip.Addr) [2]uint64 {
	b := a.As16()
	return [2]uint64{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

// compareRanks puts the worst first: most lost, then busiest; ties by key
// (namespace, protocol, addresses, ports) so the order is stable from one
// refresh to the next. Address zones, which keys from the kernel never
// have, come last: only then does it look at the flows.
func compareRanks(a, b *rank, flows []Flow) int {
	switch {
	case a.lost != b.lost:
		return cmp.Compare(b.lost, a.lost)
	case a.packets != b.packets:
		return cmp.Compare(b.packets, a.packets)
	case a.netns != b.netns:
		return cmp.Compare(a.netns, b.netns)
	case a.proto != b.proto:
		return cmp.Compare(a.proto, b.proto)
	case a.srcLen != b.srcLen:
		return cmp.Compare(a.srcLen, b.srcLen)
	case a.src != b.src:
		return cmp.Or(cmp.Compare(a.src[0], b.src[0]), cmp.Compare(a.src[1], b.src[1]))
	case a.dstLen != b.dstLen:
		return cmp.Compare(a.dstLen, b.dstLen)
	case a.dst != b.dst:
		return cmp.Or(cmp.Compare(a.dst[0], b.dst[0]), cmp.Compare(a.dst[1], b.dst[1]))
	case a.sport != b.sport:
		return cmp.Compare(a.sport, b.sport)
	case a.dport != b.dport:
		return cmp.Compare(a.dport, b.dport)
	}
	ka, kb := &flows[a.i].key, &flows[b.i].key
	return cmp.Or(strings.Compare(ka.Src.Zone(), kb.Src.Zone()), strings.Compare(ka.Dst.Zone(), kb.Dst.Zone()))
}

// sortOrder returns the flows' indices in report order. Each CPU sorts a
// part of ranks; the sorted parts are then merged pairwise, as lists of
// positions in ranks, which is all the records that ever move.
func sortOrder(ranks []rank, flows []Flow) []int32 {
	parts := partition(len(ranks))
	parallelParts(parts, func(lo, hi int) {
		slices.SortFunc(ranks[lo:hi], func(a, b rank) int { return compareRanks(&a, &b, flows) })
	})
	from, to := make([]int32, len(ranks)), make([]int32, len(ranks))
	for j := range from {
		from[j] = int32(j)
	}
	for len(parts) > 2 {
		next := []int{}
		var wg sync.WaitGroup
		for p := 0; p+1 < len(parts); p += 2 {
			lo, mid := parts[p], parts[p+1]
			next = append(next, lo)
			if p+2 == len(parts) {
				// The odd part out goes to the next round as it is.
				wg.Go(func() { copy(to[lo:mid], from[lo:mid]) })
				continue
			}
			hi := parts[p+2]
			wg.Go(func() { merge(to[lo:hi], from[lo:mid], from[mid:hi], ranks, flows) })
		}
		wg.Wait()
		parts = append(next, len(ranks))
		from, to = to, from
	}
	for k, j := range from {
		from[k] = ranks[j].i
	}
	return from
}

// merge merges two lists of positions in ranks, each in report order.
func merge(out, a, b []int32, ranks []rank, flows []Flow) {
	k := 0
	for len(a) > 0 && len(b) > 0 {
		if compareRanks(&ranks[b[0]], &ranks[a[0]], flows) < 0 {
			out[k], b = b[0], b[1:]
		} else {
			out[k], a = a[0], a[1:]
		}
		k++
	}
	k += copy(out[k:], a)
	copy(out[k:], b)
}

// permute puts flows[order[k]] at k. It follows the permutation's cycles,
// moving every flow once, and marks what it placed in order with -1.
func permute(flows []Flow, order []int32) {
	for k := range order {
		if order[k] < 0 {
			continue
		}
		first := flows[k]
		j := k
		for int(order[j]) != k {
			next := int(order[j])
			flows[j], order[j] = flows[next], -1
			j = next
		}
		flows[j], order[j] = first, -1
	}
}
