package report

import (
	"testing"

	"github.com/dropspot/dropspot/internal/flow"
	"github.com/dropspot/dropspot/internal/stage"
)

// The route follows the stages a flow reached, also on kernels that
// cannot hook ip.local_out (before 6.4).
func TestRouteOf(t *testing.T) {
	for _, tc := range []struct {
		reached []stage.Stage
		want    string
	}{
		{[]stage.Stage{stage.RxDriver, stage.RxCore, stage.IPRcv, stage.IPLocalIn, stage.L4Rcv}, "local-in"},
		{[]stage.Stage{stage.IPLocalOut, stage.IPPostrouting, stage.TxQueue}, "local-out"},
		{[]stage.Stage{stage.IPPostrouting, stage.TxQueue, stage.TxXmit}, "local-out"},
		{[]stage.Stage{stage.IPPostrouting, stage.TxQueue, stage.RxDriver, stage.L4Rcv}, "loopback"},
		{[]stage.Stage{stage.RxDriver, stage.IPRcv, stage.IPForward, stage.IPPostrouting, stage.TxQueue}, "forward"},
		// A bridge's frames, unmarked: no IP output.
		{[]stage.Stage{stage.RxDriver, stage.RxCore, stage.TxQueue, stage.TxXmit}, "local-in"},
	} {
		var c flow.Counts
		for _, s := range tc.reached {
			c.Packets[s] = 1
		}
		if got := routeNames[routeOf(&c, false, hookedOf(stage.AllStages))]; got != tc.want {
			t.Errorf("%v: route %s, want %s", tc.reached, got, tc.want)
		}
	}
}

func hookedOf(set stage.Set) stageSet {
	var h stageSet
	for _, s := range set.Stages() {
		h.add(s)
	}
	return h
}

// With fewer stages hooked (--stages) the route is told from the ones
// there are, and where none tells, it is the route whose order the
// counts follow: no loss is claimed that the counts do not show.
func TestRouteOfReducedStages(t *testing.T) {
	for _, tc := range []struct {
		set     stage.Set
		reached map[stage.Stage]uint64
		want    string
	}{
		{stage.Seed, map[stage.Stage]uint64{stage.RxDriver: 5, stage.RxCore: 5, stage.L4Rcv: 5}, "local-in"},
		// No l4.rcv, no ip.forward: forwarded.
		{stage.Seed, map[stage.Stage]uint64{stage.RxDriver: 5, stage.RxCore: 5}, "forward"},
		{stage.Serve, map[stage.Stage]uint64{stage.RxDriver: 5}, "local-in"},
		{stage.Serve, map[stage.Stage]uint64{stage.TxQueue: 5}, "local-out"},
		{stage.Serve, map[stage.Stage]uint64{stage.RxDriver: 5, stage.TxQueue: 5}, "forward"},
		{stage.Serve, map[stage.Stage]uint64{stage.RxDriver: 4, stage.TxQueue: 5}, "loopback"},
		// All hooked: device stages alone are a bridge's frames, as before.
		{stage.AllStages, map[stage.Stage]uint64{stage.RxDriver: 5, stage.TxXmit: 5}, "local-in"},
	} {
		var c flow.Counts
		for s, n := range tc.reached {
			c.Packets[s] = n
		}
		if got := routeNames[routeOf(&c, false, hookedOf(tc.set))]; got != tc.want {
			t.Errorf("%v %v: route %s, want %s", tc.set, tc.reached, got, tc.want)
		}
	}
}
