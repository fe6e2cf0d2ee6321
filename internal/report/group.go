package report

import (
	"fmt"
	"strings"

	"github.com/dropspot/dropspot/internal/flow"
)

// group is flow directions shown as one entry: their sum, how many they
// are, and which port varies among them.
type group struct {
	Flow
	n   int
	any anyPort
}

// likeness is what the flow directions of a group share: all of the key
// but one port (the client's, which each connection picks anew), the path,
// and how they fared — which drops, benign frees and losses they had, not
// how many.
type likeness struct {
	key   flow.Key // the varying port 0
	path  string
	shape string
}

// likenessOf is f's likeness with one port left out.
func likenessOf(f *Flow, anySrc bool) likeness {
	k := f.key
	if anySrc {
		k.Sport = 0
	} else {
		k.Dport = 0
	}
	var shape strings.Builder
	if f.Bridge != nil {
		fmt.Fprintf(&shape, "bridge %v;", *f.Bridge)
	}
	for _, l := range f.Losses {
		fmt.Fprintf(&shape, "loss %s-%s %v %s;", l.From, l.To, l.Unexplained > 0, dropKinds(l.Drops))
	}
	fmt.Fprintf(&shape, "benign %s", dropKinds(f.Benign))
	return likeness{key: k, path: f.Path, shape: shape.String()}
}

// dropKinds names drops by all but their counts.
func dropKinds(drops []Drop) string {
	var b strings.Builder
	for _, d := range drops {
		d.Count = 0
		fmt.Fprintf(&b, "%+v", d)
	}
	return b.String()
}

// groupAlike puts the kept flow directions that differ only in one port
// and fared alike into groups (one per direction that is like no other),
// in the order of the report: the connections one fault made, or one
// healthy client made, show once, with their counts added up.
func groupAlike(flows []Flow, keep func(*Flow) bool) []group {
	type side struct {
		like   likeness
		anySrc bool
	}
	members := map[side][]int{}
	var kept []int
	for i := range flows {
		if keep(&flows[i]) {
			kept = append(kept, i)
			for _, anySrc := range []bool{true, false} {
				s := side{likenessOf(&flows[i], anySrc), anySrc}
				members[s] = append(members[s], i)
			}
		}
	}
	var out []group
	placed := map[int]bool{}
	for _, i := range kept {
		if placed[i] {
			continue
		}
		of := []int{i}
		g := group{}
		for _, anySrc := range []bool{true, false} {
			var free []int // not in a group already
			for _, j := range members[side{likenessOf(&flows[i], anySrc), anySrc}] {
				if !placed[j] {
					free = append(free, j)
				}
			}
			if len(free) > 1 {
				of, g.any = free, anyPort{src: anySrc, dst: !anySrc}
				break
			}
		}
		for _, j := range of {
			placed[j] = true
		}
		g.Flow, g.n = sumFlows(flows, of), len(of)
		out = append(out, g)
	}
	return out
}

// sumFlows is flows alike (likeness) added up into one: counts, drops,
// benign frees, losses, packets in flight. The flows are not changed.
func sumFlows(flows []Flow, of []int) Flow {
	sum := flows[of[0]]
	sum.counts = &flow.Counts{}
	sum.Losses = make([]Loss, len(sum.Losses))
	sum.Drops, sum.Benign, sum.InFlight, sum.Lost = nil, nil, 0, nil
	for _, i := range of {
		f := &flows[i]
		for s := range f.counts.Packets {
			sum.counts.Packets[s] += f.counts.Packets[s]
			sum.counts.Bytes[s] += f.counts.Bytes[s]
		}
		sum.Drops = append(sum.Drops, f.Drops...)
		sum.Benign = append(sum.Benign, f.Benign...)
		sum.InFlight += f.InFlight
		for j, l := range f.Losses {
			to := &sum.Losses[j]
			to.From, to.To = l.From, l.To
			to.Packets += l.Packets
			to.Unexplained += l.Unexplained
			to.Drops = append(to.Drops, l.Drops...)
		}
	}
	sum.Drops, sum.Benign = mergeDrops(sum.Drops), mergeDrops(sum.Benign)
	for j := range sum.Losses {
		sum.Losses[j].Drops = mergeDrops(sum.Losses[j].Drops)
		if sum.Lost == nil || sum.Losses[j].Packets > sum.Lost.Packets {
			sum.Lost = &sum.Losses[j]
		}
	}
	return sum
}
