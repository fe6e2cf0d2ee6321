package report

import (
	"github.com/dropspot/dropspot/internal/flow"
	"github.com/dropspot/dropspot/internal/stage"
)

// stageSet is a set of stages, such as the ones the plan hooked: a bit
// per stage, so every flow can carry its own without a map.
type stageSet uint16

func (s stageSet) has(st stage.Stage) bool { return s&(1<<st) != 0 }

// add puts st in the set; the drop hook's place (stage.Drops) is not a
// stage of the path and stays out.
func (s *stageSet) add(st stage.Stage) {
	if st >= 0 && st < stage.Count {
		*s |= 1 << st
	}
}

// route is a path a flow direction can take through one namespace's stack.
type route int

const (
	localIn route = iota
	forward
	localOut
	loopback // sent and received in the same namespace
	bridged  // forwarded by a Linux bridge from port to port, no IP stage
	nRoutes
)

var routeNames = [nRoutes]string{localIn: "local-in", forward: "forward", localOut: "local-out", loopback: "loopback",
	bridged: "bridge"}

var routeStages = func() (r [nRoutes][]stage.Stage) {
	r[localIn] = []stage.Stage{stage.RxDriver, stage.RxCore, stage.IPRcv, stage.IPLocalIn, stage.L4Rcv, stage.SockRcv}
	r[forward] = []stage.Stage{stage.RxDriver, stage.RxCore, stage.IPRcv, stage.IPForward, stage.IPPostrouting,
		stage.TxQueue, stage.TxXmit, stage.TxDone}
	r[localOut] = []stage.Stage{stage.IPLocalOut, stage.IPPostrouting, stage.TxQueue, stage.TxXmit, stage.TxDone}
	r[loopback] = append(append([]stage.Stage{}, r[localOut]...), r[localIn]...)
	r[bridged] = []stage.Stage{stage.RxDriver, stage.RxCore, stage.TxQueue, stage.TxXmit, stage.TxDone}
	return r
}()

// routeOf decides which route a flow direction took from the stages it
// reached, and whether a bridge forwarded it (which no stage tells).
// hooked is the stages the run hooked: with fewer (`--stages`), a stage
// that would tell two routes apart may be missing, and the route is the
// one that claims no loss the counts do not show.
func routeOf(c *flow.Counts, bridge bool, hooked stageSet) route {
	if bridge {
		return bridged
	}
	reached := func(ss ...stage.Stage) bool {
		for _, s := range ss {
			if c.Packets[s] > 0 {
				return true
			}
		}
		return false
	}
	anyHooked := func(ss ...stage.Stage) bool {
		for _, s := range ss {
			if hooked.has(s) {
				return true
			}
		}
		return false
	}
	received := reached(stage.RxDriver, stage.RxCore, stage.IPRcv)
	delivered := reached(stage.IPLocalIn, stage.L4Rcv, stage.SockRcv)
	// Sent from here: ip.local_out, or where a kernel cannot hook it
	// (before 6.4), ip.postrouting without ip.forward. Device stages alone
	// are no IP output (a bridge's frames) unless no IP output stage is
	// hooked at all.
	sent := reached(stage.IPLocalOut, stage.IPPostrouting) ||
		(!anyHooked(stage.IPLocalOut, stage.IPPostrouting) && reached(stage.TxQueue, stage.TxXmit, stage.TxDone))
	// Without ip.forward, a forwarded packet is one received that no
	// hooked local delivery stage saw.
	forwardUnseen := !hooked.has(stage.IPForward) && !delivered && anyHooked(stage.IPLocalIn, stage.L4Rcv)
	switch {
	case reached(stage.IPForward):
		return forward
	case sent && received:
		if hooked.has(stage.IPForward) || delivered {
			return loopback
		}
		if forwardUnseen {
			return forward
		}
		// Nothing tells them apart (rx and tx stages only): a packet
		// forwarded is received first, one looped back sent first, so
		// the one whose order the counts agree with.
		if c.Packets[firstOf(hooked, routeStages[forward])] >= c.Packets[firstOf(hooked, routeStages[localOut])] {
			return forward
		}
		return loopback
	case sent:
		return localOut
	case received && forwardUnseen:
		return forward
	}
	return localIn
}

// firstOf is the first of path's stages that is hooked.
func firstOf(hooked stageSet, path []stage.Stage) stage.Stage {
	for _, s := range path {
		if hooked.has(s) {
			return s
		}
	}
	return path[0]
}

// paths holds, for one set of hooked stages, the hooked stages of each
// route, without and with sock.rcv: a report's flows share these slices
// instead of each allocating its own.
type paths struct {
	hooked stageSet
	routes [nRoutes][2][]stage.Stage
}

func newPaths(hooked stageSet) *paths {
	p := paths{hooked: hooked}
	for r, stages := range routeStages {
		for socketed := range 2 {
			for _, s := range stages {
				if hooked.has(s) && (s != stage.SockRcv || socketed == 1) {
					p.routes[r][socketed] = append(p.routes[r][socketed], s)
				}
			}
		}
	}
	return &p
}

// of names the route a flow direction took and returns its hooked stages.
// sock.rcv is left out for protocols the kernel answers itself (ICMP
// echo ...), where no socket is expected.
func (p *paths) of(proto uint8, c *flow.Counts, bridge bool) (string, []stage.Stage) {
	socketed := 0
	if proto == 6 || proto == 17 || proto == 136 {
		socketed = 1
	}
	r := routeOf(c, bridge, p.hooked)
	return routeNames[r], p.routes[r][socketed]
}

// movement is what shows a flow's packets were on their way when its
// counts were read. Either part may be nil.
type movement struct {
	transit *[stage.Count]uint64 // admitted packets by last stage passed (flow.InFlight)
	later   *flow.Counts         // the flow read again a moment later (flow.ReadLater)
}

// between is how many of the decrease from stage a to stage b (c's
// counts) were packets on their way: seen by the path table at a, or gone
// from the decrease when the flow was read again (a loss stays).
func (m movement) between(a, b stage.Stage, c *flow.Counts) uint64 {
	var seen, passed uint64
	if m.transit != nil {
		seen = m.transit[a]
	}
	if m.later != nil {
		now := c.Packets[a] - min(c.Packets[a], c.Packets[b])
		then := m.later.Packets[a] - min(m.later.Packets[a], m.later.Packets[b])
		passed = now - min(now, then)
	}
	return max(seen, passed)
}

// decreases lists every drop in count from one hooked stage of the path to
// the next, less the benign frees after the first of the two, and less
// the packets that were on their way from it when the counts were read
// (moving): those are no loss. inFlight is how many packets on their way
// that left out.
func decreases(path []stage.Stage, c *flow.Counts, benign []Drop, moving movement) (out []Loss, inFlight uint64) {
	for i := 1; i < len(path); i++ {
		from, to := c.Packets[path[i-1]], c.Packets[path[i]]
		if from <= to {
			continue
		}
		lost := from - to
		for _, b := range benign {
			if b.Stage == path[i-1].String() {
				lost -= min(b.Count, lost)
			}
		}
		n := min(moving.between(path[i-1], path[i], c), lost)
		lost -= n
		inFlight += n
		if lost > 0 {
			out = append(out, Loss{From: path[i-1].String(), To: path[i].String(), Packets: lost})
		}
	}
	return out, inFlight
}
