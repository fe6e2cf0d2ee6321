package report

import (
	"github.com/dropspot/dropspot/internal/flow"
	"github.com/dropspot/dropspot/internal/stage"
)

// The paths a flow direction can take through one namespace's stack.
var (
	pathLocalIn = []stage.Stage{stage.RxDriver, stage.RxCore, stage.IPRcv, stage.IPLocalIn, stage.L4Rcv, stage.SockRcv}
	pathForward = []stage.Stage{stage.RxDriver, stage.RxCore, stage.IPRcv, stage.IPForward, stage.IPPostrouting,
		stage.TxQueue, stage.TxXmit, stage.TxDone}
	pathLocalOut = []stage.Stage{stage.IPLocalOut, stage.IPPostrouting, stage.TxQueue, stage.TxXmit, stage.TxDone}
	// Loopback: sent and received in the same namespace.
	pathLoopback = append(append([]stage.Stage{}, pathLocalOut...), pathLocalIn...)
)

// pathOf decides which path a flow direction took from the stages it
// reached, and keeps the stages of it that are hooked. sock.rcv is left
// out for protocols the kernel answers itself (ICMP echo ...), where no
// socket is expected.
func pathOf(proto uint8, c *flow.Counts, hooked map[stage.Stage]bool) (string, []stage.Stage) {
	reached := func(s stage.Stage) bool { return c.Packets[s] > 0 }
	received := reached(stage.RxDriver) || reached(stage.RxCore) || reached(stage.IPRcv)
	name, path := "local-in", pathLocalIn
	switch {
	case reached(stage.IPLocalOut) && received:
		name, path = "loopback", pathLoopback
	case reached(stage.IPLocalOut):
		name, path = "local-out", pathLocalOut
	case reached(stage.IPForward):
		name, path = "forward", pathForward
	}
	socketed := proto == 6 || proto == 17 || proto == 136
	var kept []stage.Stage
	for _, s := range path {
		if hooked[s] && (s != stage.SockRcv || socketed) {
			kept = append(kept, s)
		}
	}
	return name, kept
}

// decreases lists every drop in count from one hooked stage of the path to
// the next.
func decreases(path []stage.Stage, c *flow.Counts) []Loss {
	var out []Loss
	for i := 1; i < len(path); i++ {
		from, to := c.Packets[path[i-1]], c.Packets[path[i]]
		if from > to {
			out = append(out, Loss{From: path[i-1].String(), To: path[i].String(), Packets: from - to})
		}
	}
	return out
}
