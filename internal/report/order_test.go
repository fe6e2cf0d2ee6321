package report

import (
	"cmp"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"slices"
	"testing"

	"github.com/dropspot/dropspot/internal/flow"
)

// randomSnapshot is n flow directions between a few addresses of both
// families: many with the same counts, some with the other direction of
// their connection, some to themselves, some with drops, and some known
// only from drops (alone, or with the other direction in the table).
func randomSnapshot(n int) *flow.Snapshot {
	rng := rand.New(rand.NewPCG(1, 2))
	addrs := []netip.Addr{a, b, netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")}
	snap := &flow.Snapshot{Flows: map[flow.Key]*flow.Counts{}}
	var keys []flow.Key
	for len(snap.Flows) < n {
		family := 2 * rng.IntN(2)
		k := flow.Key{Proto: []uint8{1, 6, 17}[rng.IntN(3)], Src: addrs[family+rng.IntN(2)], Dst: addrs[family+rng.IntN(2)],
			Sport: uint16(rng.IntN(20_000)), Dport: uint16(rng.IntN(3)), Netns: uint32(1 + rng.IntN(2))}
		switch {
		case len(keys) > 0 && rng.IntN(3) == 0:
			k = keys[rng.IntN(len(keys))].Reverse()
		case rng.IntN(100) == 0:
			k.Dst, k.Dport = k.Src, k.Sport
		}
		c := &flow.Counts{}
		path := routeStages[rng.IntN(int(nRoutes))]
		for i, s := range path {
			c.Packets[s] = uint64(5 - min(i, rng.IntN(4)))
		}
		switch rng.IntN(20) {
		case 0:
			snap.Drops = append(snap.Drops, flow.Drop{Flow: k, Stage: path[1], HasStage: true, Packets: uint64(1 + rng.IntN(3))})
		case 1:
			snap.Drops = append(snap.Drops, flow.Drop{Flow: k.Reverse(), Packets: 1})
			continue
		}
		snap.Flows[k] = c
		keys = append(keys, k)
	}
	return snap
}

// Build sorts and numbers in parallel parts; the result must be what the
// definitions say: worst first (most lost, then busiest, then by key), and
// connection ids in the order connections first appear.
func TestOrderAndConnsInParts(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(5))
	r := Build(randomSnapshot(5*minPart+100), allHooks(), Namer{})
	if len(partition(len(r.Flows))) != 6 {
		t.Fatal("the flows are not sorted in five parts: the test does not test merging")
	}
	want := slices.Clone(r.Flows)
	slices.SortFunc(want, func(x, y Flow) int {
		return cmp.Or(cmp.Compare(y.lost(), x.lost()), cmp.Compare(y.packets(), x.packets()),
			cmp.Compare(x.Netns, y.Netns), cmp.Compare(x.key.Proto, y.key.Proto), x.key.Src.Compare(y.key.Src),
			x.key.Dst.Compare(y.key.Dst), cmp.Compare(x.Sport, y.Sport), cmp.Compare(x.Dport, y.Dport))
	})
	ids := map[flow.Key]int{}
	paired := 0
	for i := range want {
		if r.Flows[i].key != want[i].key {
			t.Fatalf("flow %d is %v, want %v", i, r.Flows[i].key, want[i].key)
		}
		c := want[i].key.Conn()
		id, ok := ids[c]
		if !ok {
			id = len(ids) + 1
			ids[c] = id
		} else {
			paired++
		}
		if r.Flows[i].Conn != id {
			t.Fatalf("flow %d (%v) has conn %d, want %d", i, want[i].key, r.Flows[i].Conn, id)
		}
	}
	if paired < len(want)/10 {
		t.Errorf("only %d of %d flows have the other direction: the test does not test pairing", paired, len(want))
	}
}

// Connections whose hashes collide are still told apart.
func TestPairConnsCollisions(t *testing.T) {
	k := flow.Key{Proto: 6, Src: a, Dst: b, Sport: 1, Dport: 2}
	other := k
	other.Sport = 3
	flows := []Flow{{key: k}, {key: other}, {key: k.Reverse()}, {key: flow.Key{Proto: 17, Src: a, Dst: a, Sport: 5, Dport: 5}}}
	conns := make([]connHash, len(flows))
	for i := range conns {
		conns[i].i = int32(i) // every hash 0
	}
	if got, want := pairConns(conns, flows), []int32{2, -1, 0, -1}; !slices.Equal(got, want) {
		t.Errorf("partners %v, want %v", got, want)
	}
}

func TestMerge(t *testing.T) {
	ranks := []rank{{packets: 9}, {packets: 7}, {packets: 3}, {packets: 8}, {packets: 5}, {packets: 1}}
	out := make([]int32, len(ranks))
	merge(out, []int32{0, 1, 2}, []int32{3, 4, 5}, ranks, nil)
	if want := []int32{0, 3, 1, 4, 2, 5}; !slices.Equal(out, want) {
		t.Errorf("merged %v, want %v", out, want)
	}
	out = make([]int32, len(ranks))
	merge(out, []int32{3, 4, 5}, []int32{0, 1, 2}, ranks, nil)
	if want := []int32{0, 3, 1, 4, 2, 5}; !slices.Equal(out, want) {
		t.Errorf("merged the other way round %v, want %v", out, want)
	}
}
