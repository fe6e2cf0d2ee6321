package report

import (
	"hash/maphash"
	"iter"
	"net/netip"
	"sync"

	"github.com/dropspot/dropspot/internal/flow"
	"github.com/dropspot/dropspot/internal/stage"
)

// flowSet is a report's flows while Build makes them.
type flowSet struct {
	flows []Flow
	ranks []rank     // ranks[i] orders flows[i]
	conns []connHash // conns[i] is flows[i]'s connection
}

// buildFlows makes the report's flows, sorted and numbered: one per
// direction in the table, and one per direction known only from its drops
// (dropped before any stage, or evicted). The snapshot is not changed.
func buildFlows(table map[flow.Key]*flow.Counts, dropped map[flow.Key][]Drop, bridges map[flow.Key]*Bridge,
	tcp map[flow.Key]*TCP, hooked stageSet, inFlight flow.InFlight, later map[flow.Key]*flow.Counts) []Flow {
	s := &flowSet{flows: make([]Flow, 0, len(table)+len(dropped))}
	for k, c := range table {
		s.flows = append(s.flows, Flow{key: k, counts: c, moving: movement{transit: inFlight[k], later: later[k]}})
	}
	for k := range dropped {
		if _, ok := table[k]; !ok {
			s.flows = append(s.flows, Flow{key: k, counts: &flow.Counts{}})
		}
	}
	for k := range tcp {
		if _, ok := table[k]; !ok && dropped[k] == nil {
			s.flows = append(s.flows, Flow{key: k, counts: &flow.Counts{}})
		}
	}
	s.complete(dropped, bridges, tcp, hooked)
	// Pairing directions and sorting only read the flows: they run at once.
	var partner []int32
	var wg sync.WaitGroup
	wg.Go(func() { partner = pairConns(s.conns, s.flows) })
	order := sortOrder(s.ranks, s.flows)
	wg.Wait()
	s.numberConns(order, partner)
	permute(s.flows, order)
	return s.flows
}

// complete fills in every flow from its key, counts and drops, and ranks
// it. Flows are independent of each other: each CPU takes a part.
func (s *flowSet) complete(dropped map[flow.Key][]Drop, bridges map[flow.Key]*Bridge, tcp map[flow.Key]*TCP,
	hooked stageSet) {
	s.ranks = make([]rank, len(s.flows))
	s.conns = make([]connHash, len(s.flows))
	paths, seed := newPaths(hooked), maphash.MakeSeed()
	parallel(len(s.flows), func(lo, hi int) {
		names := addrNames{}
		for i := lo; i < hi; i++ {
			f := &s.flows[i]
			f.fill(hooked, paths, names, mergeDrops(dropped[f.key]), bridges[f.key])
			f.TCP = tcp[f.key]
			s.ranks[i] = newRank(f, i)
			s.conns[i] = connHash{maphash.Comparable(seed, f.key.Conn()), int32(i)}
		}
	})
}

// addrNames formats each address once: a busy server's many flows have
// few addresses, and formatting them for each flow took two of the
// thirteen allocations per flow.
type addrNames map[netip.Addr]string

func (n addrNames) name(a netip.Addr) string {
	s, ok := n[a]
	if !ok {
		s = a.String()
		n[a] = s
	}
	return s
}

// fill sets a flow's exported fields from its key, counts, drops and
// bridge (nil if no bridge forwarded it), and finds its losses.
func (f *Flow) fill(hooked stageSet, p *paths, addrs addrNames, drops []Drop, bridge *Bridge) {
	k := f.key
	f.Proto, f.Src, f.Sport, f.Dst, f.Dport, f.Netns = flow.ProtoName(k.Proto), addrs.name(k.Src), k.Sport,
		addrs.name(k.Dst), k.Dport, k.Netns
	f.ICMP = k.ICMPName()
	f.hooked, f.Bridge = hooked, bridge
	f.Path, f.path = p.of(k.Proto, f.counts, f.Bridge != nil)
	f.Drops, f.Benign = splitBenign(f.counts, drops)
	if f.Bridge != nil {
		placeBridgedDrops(f.Drops)
	}
	f.Losses, f.InFlight = analyse(f.path, f.counts, f.Drops, f.Benign, f.moving)
	for i := range f.Losses {
		if f.Lost == nil || f.Losses[i].Packets > f.Lost.Packets {
			f.Lost = &f.Losses[i]
		}
	}
	if f.Losses == nil {
		f.Losses = []Loss{}
	}
}

// numberConns gives both directions of a connection one id, in the order
// the connections first appear in the report.
func (s *flowSet) numberConns(order, partner []int32) {
	id := 0
	for _, i := range order {
		if s.flows[i].Conn != 0 {
			continue // numbered with the other direction
		}
		id++
		s.flows[i].Conn = id
		if p := partner[i]; p >= 0 {
			s.flows[p].Conn = id
		}
	}
}

// StagePackets yields every hooked stage's name and packet count, in path
// order: what Stages holds, without a map.
func (f *Flow) StagePackets() iter.Seq2[string, uint64] {
	return func(yield func(string, uint64) bool) {
		for s := range stage.Count {
			if f.hooked.has(s) && !yield(s.String(), f.counts.Packets[s]) {
				return
			}
		}
	}
}
