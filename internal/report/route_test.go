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
		if got := routeNames[routeOf(&c, false)]; got != tc.want {
			t.Errorf("%v: route %s, want %s", tc.reached, got, tc.want)
		}
	}
}
