package report

import (
	"cmp"
	"slices"
)

// connHash is a flow's connection, hashed, and the flow's index.
type connHash struct {
	hash uint64
	i    int32
}

// pairConns finds the other direction of each flow's connection:
// partner[i] is its index in flows, or -1. Sorting hashes brings the two
// directions together: a map from connection to flow took twice as long
// at 10^6 flows, missing the cache at every access.
func pairConns(conns []connHash, flows []Flow) []int32 {
	slices.SortFunc(conns, func(a, b connHash) int { return cmp.Compare(a.hash, b.hash) })
	partner := make([]int32, len(conns))
	for i := range partner {
		partner[i] = -1
	}
	for lo := 0; lo < len(conns); {
		hi := lo + 1
		for hi < len(conns) && conns[hi].hash == conns[lo].hash {
			hi++
		}
		// Flows with one hash are usually the two directions of one
		// connection; hashes of different connections may collide.
		same := conns[lo:hi]
		for x, a := range same {
			for _, b := range same[x+1:] {
				if flows[a.i].key.Conn() == flows[b.i].key.Conn() {
					partner[a.i], partner[b.i] = b.i, a.i
				}
			}
		}
		lo = hi
	}
	return partner
}
